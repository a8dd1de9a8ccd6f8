/**
 * Losing the host: a live daemon (a real process) with environments, jobs and audit rows backs
 * its state up to S3; the root is wiped completely; `dr restore-state` with only the recovery
 * key and the bucket's settings brings the control plane back, and the daemon starts with the
 * same environments, jobs, users and an intact audit chain. Every refusal changes nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { SecretBox } from "../../src/auth/secretbox";
import { resolvePaths } from "../../src/config/paths";
import { environments, projects } from "../../src/env/env.sql";
import { JobEvents } from "../../src/jobs/events";
import { JobLogs } from "../../src/jobs/job-log";
import { SqliteJobQueue } from "../../src/jobs/queue";
import { openState } from "../../src/state/db";
import { runCliWith } from "../support/cli";
import { freePort } from "../support/ports";
import { startS3, type TestS3 } from "../support/s3";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";

let s3: TestS3;
let root: string;
let outside: string;
let configText: string;
const children: Subprocess[] = [];

beforeAll(async () => {
  s3 = await startS3();
  root = makeTempDir("odooops-dr-host-");
  outside = makeTempDir("odooops-dr-ops-");
  const target = await s3.target(`dr-${randomSuffix()}`, { prefix: "host-a" });
  // JSON is YAML: the bucket's settings, the one thing the runbook asks to write by hand.
  configText = JSON.stringify({
    backups: {
      s3: {
        endpoint: target.endpoint,
        bucket: target.bucket,
        prefix: target.prefix,
        accessKeyId: target.accessKeyId,
        secretAccessKey: target.secretAccessKey,
        forcePathStyle: true,
      },
    },
  });
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc", "config.yaml"), configText);
});

afterAll(async () => {
  for (const c of children) c.kill(9);
  await s3?.destroy();
  removeTempDir(root);
  removeTempDir(outside);
});

const cli = (argv: string[]) => runCliWith(["--root", root, ...argv], { fetch: (u, i) => fetch(u, i), env: {} });

async function startDaemon(port: number) {
  const child = Bun.spawn(["bun", join(import.meta.dir, "../support/daemon-child.ts"), root, String(port)], {
    stdout: "ignore",
    stderr: "pipe",
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}/api/v1`;
  for (let i = 0; i < 400; i++) {
    if (
      existsSync(join(root, "run/local-token")) &&
      (await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      const token = readFileSync(join(root, "run/local-token"), "utf8").trim();
      const call = async <T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> => {
        const res = await fetch(`${url}${path}`, {
          ...init,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        });
        return { status: res.status, body: (await res.json()) as T };
      };
      return { child, call };
    }
    await Bun.sleep(50);
  }
  throw new Error(`daemon did not start: ${await new Response(child.stderr).text()}`);
}

async function stopDaemon(child: Subprocess) {
  child.kill("SIGTERM");
  await child.exited;
}

/** Rows as the coordinator's own services would write them (WAL: beside the running daemon). */
function seed() {
  const paths = resolvePaths(root);
  const db = openState(paths.stateDb);
  const box = SecretBox.fromFile(paths.secretKeyFile);
  try {
    const project = db.insert(projects).values({ name: "shop" }).returning().get();
    for (const [name, tier] of [
      ["shop-prod", "production"],
      ["shop-dev", "dev"],
    ] as const) {
      db.insert(environments)
        .values({
          projectId: project.id,
          name,
          slug: name,
          tier,
          status: "active",
          odooImage: "odoo:17.0",
          domain: `${name}.example.test`,
          dbName: `odoo_${name.replace("-", "_")}`,
          dbUser: `odoo_${name.replace("-", "_")}`,
          dbPasswordEnc: box.seal(`pw-${name}`),
          adminPasswdEnc: box.seal(`master-${name}`),
          cpus: "1",
          memoryMb: 1024,
          modules: ["base"],
        })
        .run();
    }
    writeFileSync(join(root, "release"), "");
    const queue = new SqliteJobQueue(db, new JobEvents(), new JobLogs(paths.jobLogsDir));
    const steps = ["one", "two", "three"].map((n) => ({ name: n, title: `Step ${n}` }));
    return queue.enqueue({
      kind: "crash-probe",
      params: { key: "k1" },
      lockKey: "k1",
      target: "k1",
      steps,
      createdBy: "test",
      hostId: null,
    }).id;
  } finally {
    db.$client.close();
  }
}

interface Environment {
  name: string;
  tier: string;
  status: string;
  domain: string;
}
type Verify = { ok: boolean; rows: number; head: { seq: number; hash: string } | null };

describe("restore the control plane on a wiped host", () => {
  let keyFile: string;
  let backupId: string;
  let before: {
    envs: Environment[];
    audit: { id: string; hash: string | null }[];
    verify: Verify;
    job: { id: string; status: string };
  };

  test("a live daemon's state goes to S3, encrypted for the recovery key", async () => {
    const k = await cli(["dr", "recovery-key"]);
    expect(k.code).toBe(0);
    const printed = k.stdout.trim();
    expect(printed).toMatch(/^ODOOOPS-RECOVERY-KEY-1-/);
    expect(readFileSync(join(root, "etc", "recovery.pub"), "utf8")).not.toContain(printed.slice(-43));
    // Root-only: knowing the public half is enough to forge a backup for it.
    expect(statSync(join(root, "etc", "recovery.pub")).mode & 0o777).toBe(0o600);
    keyFile = join(outside, "recovery.key");
    writeFileSync(keyFile, `${printed}\n`, { mode: 0o600 });
    const again = await cli(["dr", "recovery-key"]);
    expect(again.stdout).toBe(""); // never shown twice
    expect(again.stderr).toContain("recovery key ");

    const d = await startDaemon(await freePort());
    try {
      const jobId = seed();
      let job = { id: jobId, status: "queued" };
      for (let i = 0; i < 400 && job.status !== "succeeded"; i++) {
        job = (await d.call<{ id: string; status: string }>(`/jobs/${jobId}`)).body;
        if (job.status !== "succeeded") await Bun.sleep(50);
      }
      expect(job.status).toBe("succeeded");
      expect(
        (
          await d.call("/users", {
            method: "POST",
            body: JSON.stringify({ username: "ana", role: "member", password: "ana-password-123" }),
          })
        ).status,
      ).toBeLessThan(300);
      // What the backup must bring back, read just before it is taken.
      const envs = (await d.call<Environment[]>("/environments")).body.map(({ name, tier, status, domain }) => ({
        name,
        tier,
        status,
        domain,
      }));
      expect(envs.map((e) => e.name).sort()).toEqual(["shop-dev", "shop-prod"]);
      const audit = (await d.call<{ id: string; hash: string | null; action: string }[]>("/audit/logs?limit=10000"))
        .body;
      expect(audit.some((r) => r.action === "user.add")).toBe(true);
      before = {
        envs,
        audit: audit.map(({ id, hash }) => ({ id, hash })),
        verify: (await d.call<Verify>("/audit/verify")).body,
        job,
      };
      expect(before.verify.ok).toBe(true);
      const made = await d.call<{ id: string; stored: { kind: string }[] }>("/dr/state-backups", {
        method: "POST",
        body: "{}",
      });
      expect(made.status).toBe(200);
      expect(made.body.stored.map((s) => s.kind)).toEqual(["local", "s3"]);
      backupId = made.body.id;
      const after = (await d.call<{ action: string; target: string | null }[]>("/audit/logs?action=dr")).body;
      expect(after[0]).toMatchObject({ action: "dr.state-backup", target: backupId });

      // While the daemon runs, restore-state refuses and touches nothing.
      const refused = await cli(["dr", "restore-state", "--recovery-key-file", keyFile, "--from", "s3"]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("a daemon is running on this state");
      expect(readdirSync(join(root, "state")).filter((f) => /replaced|restoring/.test(f))).toEqual([]);
    } finally {
      await stopDaemon(d.child);
    }
    // Any other process holding the state open (a sqlite3 shell, a daemon whose URL file is gone): refused too.
    const holder = Bun.spawn(
      [
        "bun",
        "-e",
        `const {Database}=require("bun:sqlite");const db=new Database(${JSON.stringify(join(root, "state", "odooops.db"))});db.query("select 1").get();console.log("open");setInterval(()=>{},1000)`,
      ],
      { stdout: "pipe" },
    );
    children.push(holder);
    try {
      await holder.stdout.getReader().read();
      const held = await cli(["dr", "restore-state", "--recovery-key-file", keyFile, "--from", "s3"]);
      expect(held.code).not.toBe(0);
      expect(held.stderr).toContain(`is open in process(es) ${holder.pid}`);
      expect(readdirSync(join(root, "state")).filter((f) => /replaced|restoring/.test(f))).toEqual([]);
    } finally {
      holder.kill(9);
      await holder.exited;
    }
  });

  test("the host is lost: wipe everything, write the bucket's settings, refusals change nothing", async () => {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(join(root, "etc"), { recursive: true });
    writeFileSync(join(root, "etc", "config.yaml"), configText);

    const wrongKey = join(outside, "wrong.key");
    const other = await runCliWith(["--root", join(outside, "elsewhere"), "dr", "recovery-key"], { fetch, env: {} });
    writeFileSync(wrongKey, other.stdout);
    const wrong = await cli(["dr", "restore-state", "--recovery-key-file", wrongKey, "--from", "s3"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`${backupId} was encrypted for recovery key`);
    const missing = await cli([
      "dr",
      "restore-state",
      "--recovery-key-file",
      join(outside, "nope.key"),
      "--from",
      "s3",
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read the recovery key file");
    const noBackup = await cli([
      "dr",
      "restore-state",
      "--recovery-key-file",
      keyFile,
      "--from",
      "s3",
      "--backup",
      "state-20200101T000000Z-aaaaaa",
    ]);
    expect(noBackup.code).toBe(4);

    const dry = await cli([
      "--json",
      "dr",
      "restore-state",
      "--recovery-key-file",
      keyFile,
      "--from",
      "s3",
      "--dry-run",
    ]);
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as {
      restored: boolean;
      backup: { id: string };
      counts: Record<string, number>;
      files: { name: string; action: string }[];
    };
    expect(plan.restored).toBe(false);
    expect(plan.backup.id).toBe(backupId);
    expect(plan.counts.environments).toBe(2);
    expect(plan.files.find((f) => f.name === "config.yaml")?.action).toBe("replace");
    expect(existsSync(join(root, "state", "odooops.db"))).toBe(false);
    expect(readdirSync(join(root, "etc"))).toEqual(["config.yaml"]);
  });

  test("restore-state brings it back; the daemon starts with the same envs, jobs, users and audit chain", async () => {
    const r = await cli(["dr", "restore-state", "--recovery-key-file", keyFile, "--from", "s3"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`restored: state backup ${backupId}`);
    // The file it replaced is kept beside it.
    expect(readdirSync(join(root, "etc")).filter((f) => f.startsWith("config.yaml.replaced-")).length).toBe(1);
    expect(readFileSync(join(root, "etc", "secret.key"), "utf8")).toMatch(/\S/);
    for (const f of ["config.yaml", "secret.key", "jwt-secret", "recovery.pub"])
      expect(statSync(join(root, "etc", f)).mode & 0o777).toBe(0o600);

    const d = await startDaemon(await freePort());
    try {
      const envs = (await d.call<Environment[]>("/environments")).body.map(({ name, tier, status, domain }) => ({
        name,
        tier,
        status,
        domain,
      }));
      expect(envs).toEqual(before.envs);
      const verify = (await d.call<Verify>("/audit/verify")).body;
      expect(verify.ok).toBe(true);
      expect(verify.rows).toBeGreaterThanOrEqual(before.verify.rows);
      const audit = new Map(
        (await d.call<{ id: string; hash: string | null }[]>("/audit/logs?limit=10000")).body.map((a) => [
          a.id,
          a.hash,
        ]),
      );
      for (const row of before.audit) expect(audit.get(row.id)).toBe(row.hash);
      // The chain goes on with the restore itself.
      const restoredRow = (
        await d.call<{ actor: string; target: string; details: { from: string } }[]>(
          "/audit/logs?action=dr.restore-state",
        )
      ).body;
      expect(restoredRow).toHaveLength(1);
      expect(restoredRow[0]).toMatchObject({
        actor: "dr-restore",
        target: backupId,
        details: { from: expect.stringMatching(/^s3:\/\/dr-[a-z0-9]+\/host-a\/_state\/$/) },
      });
      expect((await d.call<{ status: string }>(`/jobs/${before.job.id}`)).body.status).toBe("succeeded");
      const login = await d.call("/auth/login", {
        method: "POST",
        body: JSON.stringify({ username: "ana", password: "ana-password-123" }),
      });
      expect(login.status).toBe(200);
    } finally {
      await stopDaemon(d.child);
    }
    // The env passwords sealed before the loss open with the restored host key.
    const paths = resolvePaths(root);
    const db = openState(paths.stateDb);
    const box = SecretBox.fromFile(paths.secretKeyFile);
    try {
      const row = db
        .select()
        .from(environments)
        .all()
        .find((e) => e.name === "shop-prod");
      expect(box.open(row!.dbPasswordEnc)).toBe("pw-shop-prod");
    } finally {
      db.$client.close();
    }
  });
});
