/**
 * `db restore` end to end on a real env (PostgreSQL, docker, nginx, the Odoo stand-in), backups
 * in a local dir and s3rver: the latest backup comes back into the same env; a restore that
 * fails verification, and one that fails after the swap, both leave the env on its old database
 * and serving; --keep-old keeps the replaced database.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import {
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
  closeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { eq } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import type { DbOperationResponse } from "../../src/db/schema";
import { envResources } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { dropDatabase, pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { startEnvHost } from "../support/env-host";
import { startS3, type TestS3 } from "../support/s3";
import { randomSuffix } from "../support/tmp";
import { answer } from "./serving";

let s3: TestS3;
let host: Awaited<ReturnType<typeof startEnvHost>>;
let admin: SQL;
const slug = `rs-${randomSuffix(6)}`;

beforeAll(async () => {
  s3 = await startS3();
  const target = await s3.target(`rs-${randomSuffix()}`, { prefix: "odooops" });
  host = await startEnvHost({ configOverrides: { backups: { s3: target } } });
  admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password });
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await host?.stop();
  await s3?.destroy();
}, 120_000);

const env = () => host.env(slug);

function filestore(): string {
  const e = env();
  return join(envResources(e, host.deps).dataDir, "filestore", e.dbName);
}

const envSql = <T>(fn: (sql: SQL) => Promise<T>) => host.pg.query(env().dbName, fn);

async function partnerNames(): Promise<string[]> {
  return envSql(async (sql) =>
    (await sql<{ name: string }[]>`SELECT name FROM res_partner ORDER BY id`).map((r) => r.name),
  );
}

async function envDatabases(): Promise<string[]> {
  const rows = await admin<
    { d: string }[]
  >`SELECT datname AS d FROM pg_database WHERE starts_with(datname, ${env().dbName}) ORDER BY 1`;
  return rows.map((r) => r.d);
}

async function backup(): Promise<string> {
  const res = await host.api.request(`/api/v1/environments/${slug}/backups`, { method: "POST" });
  expect(res.status).toBe(202);
  const job = await host.waitJob(((await res.json()) as JobView).id);
  expect(job.error).toBeNull();
  return String(job.result?.backupId);
}

async function restore(body: Record<string, unknown>): Promise<JobView> {
  const res = await host.api.request(`/api/v1/environments/${slug}/db/restore`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  const out = (await res.json()) as DbOperationResponse;
  expect(out.job?.kind).toBe("db.restore");
  return host.waitJob(out.job!.id);
}

/** Serving, through nginx, a database Odoo can open as the env's role (the login page needs base + web). */
async function expectServing(): Promise<void> {
  const e = env();
  expect(e.status).toBe("active");
  const state = (
    await run({ argv: ["docker", "inspect", "-f", "{{.State.Running}}", e.containerName!] })
  ).stdout.trim();
  expect(state).toBe("true");
  expect(await answer(host, e.domain, "/web/health?db_server_status=1")).toMatchObject({ status: 200 });
  const login = await answer(host, e.domain, "/web/login");
  expect(login).toMatchObject({ status: 200 });
  expect(login.body).toContain("<title>Odoo</title>");
}

/** Nothing a restore stages or keeps aside is left: only the env's own filestore dir. */
function filestoreSiblings(): string[] {
  return readdirSync(dirname(filestore())).sort();
}

let b1 = "";
let b3 = "";

describe("db restore on a real environment", () => {
  test("an env with a backup", async () => {
    const res = await host.api.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: slug, tier: "dev", modules: ["base", "web"] }),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { job: JobView };
    expect((await host.waitJob(body.job.id)).status).toBe("succeeded");
    mkdirSync(join(filestore(), "ab"), { recursive: true });
    writeFileSync(join(filestore(), "ab", "ab12cd"), "attachment v1");
    b1 = await backup();
    await expectServing();
  }, 240_000);

  test("restore latest into the same env: later changes are gone, the old database dropped, serving through nginx", async () => {
    const atBackup = await partnerNames();
    await envSql((sql) => sql`INSERT INTO res_partner (name, email) VALUES ('After Backup', 'after@backup.example')`);
    rmSync(join(filestore(), "ab", "ab12cd"));
    mkdirSync(join(filestore(), "cd"), { recursive: true });
    writeFileSync(join(filestore(), "cd", "cd34ef"), "written after the backup");
    expect(await partnerNames()).toContain("After Backup");

    const job = await restore({ backup: "latest" });
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    expect(job.steps.map((s) => [s.name, s.status])).toEqual([
      ["pre-backup", "skipped"],
      ["fetch", "done"],
      // Its own URL, frozen (non-production), even for its own backup.
      ["sanitize", "done"],
      ["stop", "done"],
      ["swap", "done"],
      ["odoo-neutralize", "skipped"],
      ["modules", "done"],
      ["start", "done"],
      ["health", "done"],
      ["finalize", "done"],
    ]);
    expect(job.result).toMatchObject({
      env: slug,
      from: slug,
      backupId: b1,
      keptOld: null,
      leftovers: [],
      anonymized: false,
      neutralized: false,
    });

    expect(await partnerNames()).toEqual(atBackup);
    expect(readFileSync(join(filestore(), "ab", "ab12cd"), "utf8")).toBe("attachment v1");
    expect(existsSync(join(filestore(), "cd"))).toBe(false);
    expect(await envDatabases()).toEqual([env().dbName]);
    expect(filestoreSiblings()).toEqual([env().dbName]);
    // Odoo (uid 101) owns what it serves.
    expect((await run({ argv: ["stat", "-c", "%u", join(filestore(), "ab", "ab12cd")] })).stdout.trim()).toBe(
      String(host.config.odoo.uid),
    );
    const [owner] = await admin<
      { o: string }[]
    >`SELECT pg_get_userbyid(datdba) AS o FROM pg_database WHERE datname = ${env().dbName}`;
    expect(owner?.o).toBe(env().dbUser);
    await expectServing();
  }, 240_000);

  test("a backup that fails verification (corrupt dump): job failed, env still on its old database and serving", async () => {
    await envSql((sql) => sql`INSERT INTO res_partner (name) VALUES ('Marker before bad restore')`);
    const before = await partnerNames();
    const b2 = await backup();
    const row = host.deps.db.select().from(backups).where(eq(backups.id, b2)).get()!;
    // Flip bytes in the middle of the local dump: same size, different content.
    const dump = join(row.localPath!, "db.dump");
    const size = readFileSync(dump).length;
    const fd = openSync(dump, "r+");
    writeSync(fd, Buffer.from("CORRUPTED"), 0, 9, Math.floor(size / 2));
    closeSync(fd);
    await envSql((sql) => sql`INSERT INTO res_partner (name) VALUES ('Marker after backup')`);

    const job = await restore({ backup: b2 });
    expect(job.status).toBe("failed");
    expect(job.error).toContain("does not match its manifest");
    expect(job.steps.find((s) => s.name === "fetch")?.status).toBe("failed");
    expect(job.steps.find((s) => s.name === "stop")?.status).toBe("pending");
    expect(await partnerNames()).toEqual([...before, "Marker after backup"]);
    expect(await envDatabases()).toEqual([env().dbName]);
    expect(filestoreSiblings()).toEqual([env().dbName]);
    await expectServing();
  }, 240_000);

  test("a failure after the swap (health check) swaps back: env on its old database, running again", async () => {
    // A good backup again (retention drops the corrupt one: same day, superseded).
    b3 = await backup();
    await envSql((sql) => sql`INSERT INTO res_partner (name) VALUES ('After b3')`);
    const before = await partnerNames();
    const { nginx, odoo } = host.deps.config;
    const realPort = nginx.httpPort;
    const realTimeout = odoo.healthTimeoutSec;
    // Nothing listens there: the new database never looks healthy.
    nginx.httpPort = 1;
    odoo.healthTimeoutSec = 2;
    let job: JobView;
    try {
      job = await restore({ backup: b3 });
    } finally {
      nginx.httpPort = realPort;
      odoo.healthTimeoutSec = realTimeout;
    }
    expect(job.status).toBe("failed");
    expect(job.error).toContain("not healthy");
    const status = Object.fromEntries(job.steps.map((s) => [s.name, s.status]));
    // stop's undo started Odoo again; its health check (still aimed at the dead port) is what failed there.
    expect(status).toMatchObject({
      fetch: "undone",
      stop: "done",
      swap: "undone",
      start: "undone",
      health: "failed",
      finalize: "pending",
    });
    expect(await partnerNames()).toEqual(before);
    expect(await envDatabases()).toEqual([env().dbName]);
    expect(filestoreSiblings()).toEqual([env().dbName]);
    // Everything was put back: nothing to warn about on the env.
    expect(env().statusReason).toBeNull();
    await expectServing();
  }, 240_000);

  test("--keep-old keeps the replaced database under its _old_ name", async () => {
    const job = await restore({ backup: b3, keepOld: true });
    expect(job.status).toBe("succeeded");
    const kept = String(job.result?.keptOld);
    expect(kept).toMatch(new RegExp(`^${env().dbName}_old_[a-z0-9]{8}$`));
    expect(await envDatabases()).toEqual([env().dbName, kept].sort());
    const names = await host.pg.query(kept, async (sql) =>
      (await sql<{ name: string }[]>`SELECT name FROM res_partner`).map((r) => r.name),
    );
    expect(names).toContain("After b3");
    const now = await partnerNames();
    expect(now).toContain("Marker after backup");
    expect(now).not.toContain("After b3");
    expect(filestoreSiblings().filter((d) => d.includes(".old-"))).toHaveLength(1);
    await expectServing();
    await dropDatabase(admin, kept);
  }, 240_000);

  test("a backup only in S3 restores through a verified download (nothing left in the work dir)", async () => {
    const local = host.deps.config.backups.local;
    host.deps.config.backups.local = { ...local, enabled: false };
    let id = "";
    try {
      id = await backup();
    } finally {
      host.deps.config.backups.local = local;
    }
    const row = host.deps.db.select().from(backups).where(eq(backups.id, id)).get()!;
    expect(row.localPath).toBeNull();
    expect(row.s3Key).not.toBeNull();
    await envSql((sql) => sql`INSERT INTO res_partner (name) VALUES ('After the S3 backup')`);
    const job = await restore({ backup: id });
    expect(job.error).toBeNull();
    expect(job.steps.find((s) => s.name === "fetch")?.status).toBe("done");
    expect(host.deps.jobs.logs.read(job.id, 0).text).toContain(`from s3://`);
    expect(await partnerNames()).not.toContain("After the S3 backup");
    const work = host.deps.paths.workDir;
    expect(existsSync(work) ? readdirSync(work) : []).toEqual([]);
    await expectServing();
  }, 240_000);

  test("a stopped env is restored and left stopped", async () => {
    const stop = await host.api.request(`/api/v1/environments/${slug}/stop`, { method: "POST" });
    expect((await host.waitJob(((await stop.json()) as JobView).id)).status).toBe("succeeded");
    await envSql((sql) => sql`INSERT INTO res_partner (name) VALUES ('While stopped')`);
    const job = await restore({ backup: "latest" });
    expect(job.status).toBe("succeeded");
    expect(job.steps.find((s) => s.name === "health")?.status).toBe("done");
    expect(await partnerNames()).not.toContain("While stopped");
    expect(env().status).toBe("stopped");
    expect(
      (await run({ argv: ["docker", "inspect", "-f", "{{.State.Running}}", env().containerName!] })).stdout.trim(),
    ).toBe("false");
    const start = await host.api.request(`/api/v1/environments/${slug}/start`, { method: "POST" });
    expect((await host.waitJob(((await start.json()) as JobView).id)).status).toBe("succeeded");
    await expectServing();
  }, 240_000);

  test("refusals: unknown backup 404, a failed backup 400, unknown env 404, bad body 400", async () => {
    const post = (name: string, body: unknown) =>
      host.api.request(`/api/v1/environments/${name}/db/restore`, { method: "POST", body: JSON.stringify(body) });
    expect((await post(slug, { backup: "no-such-backup" })).status).toBe(404);
    const failed = host.deps.db
      .insert(backups)
      .values({ envId: env().id, kind: "manual", status: "failed", dbName: env().dbName, error: "test" })
      .returning()
      .get();
    const res = await post(slug, { backup: failed.id });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
      "only a completed backup can be restored",
    );
    expect((await post("nope", { backup: "latest" })).status).toBe(404);
    expect((await post(slug, { backup: "latest", bogus: true })).status).toBe(400);
    const dry = await post(slug, { backup: "latest", dryRun: true });
    expect(dry.status).toBe(200);
    const out = (await dry.json()) as DbOperationResponse;
    expect(out.job).toBeNull();
    expect(out.plan.steps).toEqual([
      "Restoring the backup into a new database and verifying it",
      "Anonymizing / neutralizing the copy",
      "Stopping Odoo",
      "Swapping in the new database and filestore",
      "Matching the copy's modules to the serving image",
      "Starting Odoo",
      "Waiting for Odoo to answer",
      "Dropping the previous database",
    ]);
  }, 60_000);

  test("destroy the env", async () => {
    const res = await host.api.request(`/api/v1/environments/${slug}`, { method: "DELETE" });
    expect(res.status).toBe(202);
    expect((await host.waitJob(((await res.json()) as JobView).id)).status).toBe("succeeded");
  }, 240_000);
});
