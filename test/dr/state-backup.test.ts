/**
 * State backups against real SQLite and a real S3 server (s3rver): consistent while another
 * process writes, encrypted so the bucket alone reads nothing, stored locally and in S3,
 * retention per store, a target that fails is reported and does not stop the other.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigSchema } from "../../src/config/schema";
import { unpack } from "../../src/dr/bundle";
import { open } from "../../src/dr/envelope";
import { ensureRecoveryKey, parseRecoveryPrivateKey, type RecoveryPrivateKey } from "../../src/dr/recovery-key";
import { schedulesFor } from "../../src/daemon/schedules";
import { backupState, stateBackupSchedule } from "../../src/dr/state-backup";
import { openS3 } from "../../src/host/s3";
import { makeTestApi } from "../support/api";
import { runCliOn } from "../support/cli";
import { startS3, type TestS3 } from "../support/s3";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";

let s3: TestS3;
let api: Awaited<ReturnType<typeof makeTestApi>>;
let key: RecoveryPrivateKey;
const bucket = `state-${randomSuffix()}`;
const dirs: string[] = [];
const made: string[] = [];

beforeAll(async () => {
  s3 = await startS3();
  const root = makeTempDir("odooops-dr-");
  dirs.push(root);
  const config = ConfigSchema.parse({
    backups: { s3: await s3.target(bucket, { prefix: "ops" }) },
    dr: { stateBackups: { retention: { daily: 0, weekly: 0, monthly: 0, last: 2 } } },
  });
  api = await makeTestApi({ root, config });
});

afterAll(async () => {
  api?.cleanup();
  await s3?.destroy();
  for (const d of dirs) removeTempDir(d);
});

const localDir = () => join(api.deps.paths.backupsDir, "_state");
const localIds = () => (existsSync(localDir()) ? readdirSync(localDir()).sort() : []);
const cli = (argv: string[]) => runCliOn(api, argv);

describe("state backups", () => {
  test("without a recovery key: a clear error, nothing written anywhere", async () => {
    const res = await api.request("/api/v1/dr/state-backups", { method: "POST", body: "{}" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
      "no recovery key on this host",
    );
    expect(localIds()).toEqual([]);
    const store = await openS3(api.deps.config.backups.s3!);
    expect(await store.list("ops/")).toEqual([]);
    store.close();
    const created = ensureRecoveryKey(api.deps.paths.recoveryPublicKeyFile);
    if (!created.created) throw new Error("expected a new key");
    key = parseRecoveryPrivateKey(created.privateText);
  });

  test("consistent while another process writes; both copies identical; the bucket alone reads no secret", async () => {
    // A second connection commits pairs of rows in one transaction, every millisecond or so
    // (not in a tight loop: SQLite's busy handler is not fair, the API's own writes would starve).
    const stop = join(dirs[0], "stop-writer");
    const writer = Bun.spawn(
      [
        "bun",
        "-e",
        `const {Database}=require("bun:sqlite");const {existsSync}=require("node:fs");const db=new Database(${JSON.stringify(api.deps.paths.stateDb)});db.exec("PRAGMA busy_timeout=5000");db.exec("create table if not exists dr_probe(n integer)");const ins=db.prepare("insert into dr_probe values (?)");const pair=db.transaction((n)=>{ins.run(n);ins.run(n)});let n=0;console.log("ready");while(!existsSync(${JSON.stringify(stop)})){pair(n++);Bun.sleepSync(1)}`,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    try {
      const reader = writer.stdout.getReader();
      await reader.read(); // "ready": the writer is committing
      reader.releaseLock();
      const res = await api.request("/api/v1/dr/state-backups", { method: "POST", body: "{}" });
      expect(res.status).toBe(200);
      const out = (await res.json()) as {
        id: string;
        stored: { kind: string }[];
        failed: unknown[];
        recipient: string;
      };
      expect(out.failed).toEqual([]);
      made.push(out.id);
      expect(out.stored.map((s) => s.kind)).toEqual(["local", "s3"]);
      expect(out.recipient).toBe(key.publicKey.fingerprint);

      const local = readFileSync(join(localDir(), `${out.id}.odooops-state`));
      const store = await openS3(api.deps.config.backups.s3!);
      const remote = Buffer.from(await store.getBytes(`ops/_state/${out.id}.odooops-state`));
      store.close();
      expect(remote.equals(local)).toBe(true);
      const secret = readFileSync(api.deps.paths.secretKeyFile, "utf8").trim();
      expect(remote.includes(Buffer.from(secret))).toBe(false);
      expect(remote.includes(Buffer.from("SQLite format 3"))).toBe(false);

      const { files } = unpack(open(remote, key).plain);
      expect(files.map((f) => f.name).sort()).toEqual(["jwt-secret", "recovery.pub", "secret.key", "state.db"]);
      expect(
        Buffer.from(files.find((f) => f.name === "secret.key")!.bytes)
          .toString()
          .trim(),
      ).toBe(secret);
      const snap = join(dirs[0], "snapshot.db");
      writeFileSync(snap, files.find((f) => f.name === "state.db")!.bytes);
      const db = new Database(snap, { readonly: true });
      expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
      const n = (db.query("select count(*) as n from dr_probe").get() as { n: number }).n;
      expect(n % 2).toBe(0); // never half a transaction
      expect((db.query("select count(*) as n from users").get() as { n: number }).n).toBe(1);
      db.close();
    } finally {
      writeFileSync(stop, "");
      await writer.exited;
    }
    expect(writer.exitCode).toBe(0);
  });

  test("retention keeps the newest per policy in each store", async () => {
    // Later than the previous test's backup: one dated after `now` would be kept (clock skew rule).
    const base = Date.now() + 3_600_000;
    for (let h = 0; h < 4; h++) made.push((await backupState(api.deps, new Date(base + h * 3_600_000))).id);
    const store = await openS3(api.deps.config.backups.s3!);
    const remote = (await store.list("ops/_state/")).map((o) => o.key.slice("ops/_state/".length));
    store.close();
    // Ids sort by time: the two newest of everything made so far (the previous test's included).
    const expected = [...made]
      .sort()
      .slice(-2)
      .map((id) => `${id}.odooops-state`);
    expect(expected).not.toContain(`${made[1]}.odooops-state`);
    expect(localIds()).toEqual(expected);
    expect(remote.sort()).toEqual(expected);
  });

  test("S3 down: kept locally, the failure named, the CLI exits non-zero", async () => {
    await s3.stop();
    try {
      const r = await cli(["dr", "backup"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/not stored in s3:\/\/state-[a-z0-9]+\/ops\/_state\//);
      const id = /state backup (state-\S+) not stored/.exec(r.stderr)?.[1];
      expect(localIds()).toContain(`${id}.odooops-state`);
      const listed = await cli(["dr", "backups", "--json"]);
      expect(listed.code).toBe(0);
      const body = JSON.parse(listed.stdout) as { errors: { kind: string }[]; backups: { stored: string[] }[] };
      expect(body.errors.map((e) => e.kind)).toEqual(["s3"]);
      expect(body.backups.every((b) => b.stored.join() === "local")).toBe(true);
    } finally {
      await s3.start();
    }
  });

  test("dr backups lists every backup once, with where it is stored", async () => {
    const r = await cli(["dr", "backups", "--json"]);
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as {
      recoveryKey: string;
      backups: { id: string; stored: string[] }[];
      errors: unknown[];
    };
    expect(body.recoveryKey).toBe(key.publicKey.fingerprint);
    expect(body.errors).toEqual([]);
    const ids = localIds().map((f) => f.replace(".odooops-state", ""));
    for (const id of ids)
      expect(body.backups.find((b) => b.id === id)?.stored).toEqual(expect.arrayContaining(["local"]));
    expect(body.backups.filter((b) => b.stored.length === 2).length).toBeGreaterThanOrEqual(1);
    const table = await cli(["dr", "backups"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+CREATED\s+BYTES\s+STORED$/);
  });
});

describe("the hourly schedule", () => {
  test("on by default on a coordinator, off on an agent or with an empty pattern", () => {
    const names = (input: Record<string, unknown>) =>
      schedulesFor(ConfigSchema.parse(input)).map((s) => `${s.name} ${s.pattern}`);
    expect(names({})).toContain("dr.state-backup 0 * * * *");
    expect(names({})).toContain("backups.destroyed-sweep 20 4 * * *");
    expect(names({ role: "agent" }).some((n) => n.startsWith("dr.state-backup"))).toBe(false);
    expect(names({ dr: { stateBackups: { schedule: "" } } }).some((n) => n.startsWith("dr.state-backup"))).toBe(false);
    expect(() => ConfigSchema.parse({ dr: { stateBackups: { schedule: "every hour" } } })).toThrow(
      /invalid cron pattern/,
    );
  });

  test("a tick makes a backup; a tick that stores nothing fails loudly", async () => {
    const before = new Set(localIds());
    await stateBackupSchedule("0 * * * *").tick(api.deps);
    expect(localIds().filter((f) => !before.has(f))).toHaveLength(1);
    const nowhere = { ...api.deps, config: ConfigSchema.parse({ backups: { local: { enabled: false } } }) };
    await expect(Promise.resolve(stateBackupSchedule("0 * * * *").tick(nowhere))).rejects.toThrow(/no backup target/);
  });
});
