/**
 * The leftover-copy sweep against a real PostgreSQL: what a killed daemon leaves (a scratch
 * role + database + pg_hba line + dir, a CREATE DATABASE … TEMPLATE still running in an orphaned
 * session, a session still writing the copy, an ownership-transfer role) is removed; a copy a
 * queued job still needs, and databases or roles that only look like ours, are not.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL, Subprocess } from "bun";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { ConfigSchema } from "../../src/config/schema";
import { replaceNames } from "../../src/db/replace";
import { environments } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import {
  isXferRole,
  replaceTokenOf,
  SCRATCH_PREFIX,
  scratchTag,
  scratchTagOfDir,
  scratchTagOfName,
  scratchTagsOf,
} from "../../src/db/copies/names";
import { sweepCopies } from "../../src/db/copies/sweep";
import {
  copyApplicationName,
  createDatabase,
  createRole,
  dropThrowawayRole,
  pgConnect,
  readHbaEntries,
  setHbaEntry,
} from "../../src/host/postgres";
import { makeTestApi } from "../support/api";
import { startPostgres, type TestPostgres } from "../support/postgres";

describe("copy names (pure)", () => {
  test("a scratch tag is the job's, stable, and read back from its names", () => {
    const tag = scratchTag("rehearse", "job-1");
    expect(tag).toMatch(/^[0-9a-f]{10}$/);
    expect(scratchTag("rehearse", "job-1")).toBe(tag);
    expect(scratchTag("tests", "job-1")).not.toBe(tag);
    expect(scratchTagsOf("job-1")).toEqual([tag, scratchTag("tests", "job-1"), scratchTag("dr-test", "job-1")]);
    expect(scratchTagOfName(`${SCRATCH_PREFIX}${tag}`)).toBe(tag);
    expect(scratchTagOfDir(`scratch-${tag}`)).toBe(tag);
  });
  test("names that only look like ours are not ours", () => {
    for (const n of [
      "odooops_scratch_",
      "odooops_scratch_mine",
      "odooops_scratch_0123456789a",
      "odooops_scratch_ABCDEF0123",
      "xodooops_scratch_0123456789",
    ])
      expect(scratchTagOfName(n)).toBeNull();
    expect(scratchTagOfDir("scratch-../../etc")).toBeNull();
    expect(isXferRole("odooops_xfer_0123456789ab")).toBe(true);
    for (const n of ["odooops_xfer_", "odooops_xfer_0123456789abc", "odooops_xfer_0123456789aZ"])
      expect(isXferRole(n)).toBe(false);
    expect(replaceTokenOf("odoo_shop_new_ab12cd34", "odoo_shop")).toBe("ab12cd34");
    for (const n of [
      "odoo_shop_new_ab12cd3",
      "odoo_shop_new_AB12CD34",
      "odoo_shop_old_ab12cd34",
      "odoo_shopx_new_ab12cd34",
    ])
      expect(replaceTokenOf(n, "odoo_shop")).toBeNull();
  });
  test("the copy's application_name fits PostgreSQL's 63 bytes and refuses bad identifiers", () => {
    expect(copyApplicationName(`${SCRATCH_PREFIX}0123456789`)).toBe("odooops copy odooops_scratch_0123456789");
    expect(copyApplicationName("a".repeat(63)).length).toBe(63);
    expect(() => copyApplicationName("x'; DROP DATABASE y; --")).toThrow();
  });
});

let pg: TestPostgres;
let api: Awaited<ReturnType<typeof makeTestApi>>;
let admin: SQL;
const orphans: Subprocess[] = [];

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  const config = ConfigSchema.parse({
    postgres: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, hbaFile: pg.hbaFile },
  });
  api = await makeTestApi({ config });
  admin = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
}, 120_000);

afterAll(async () => {
  for (const o of orphans) o.kill(9);
  await admin?.close();
  api?.cleanup();
  await pg?.stop();
}, 60_000);

const deps = () => api.deps;

async function dbs(): Promise<string[]> {
  return (
    await admin<{ n: string }[]>`SELECT datname AS n FROM pg_database WHERE starts_with(datname, 'odooops_') ORDER BY 1`
  ).map((r) => r.n);
}
async function roles(): Promise<string[]> {
  return (
    await admin<{ n: string }[]>`SELECT rolname AS n FROM pg_roles WHERE starts_with(rolname, 'odooops_') ORDER BY 1`
  ).map((r) => r.n);
}

/** A scratch copy as withScratchDatabase makes it, for job `jobId`, with a dir under env `slug`. */
async function makeScratch(jobId: string, slug = "shop"): Promise<{ name: string; dir: string }> {
  const tag = scratchTag("rehearse", jobId);
  const name = `${SCRATCH_PREFIX}${tag}`;
  await createRole(admin, name, "pw-scratch-1");
  await createDatabase(admin, name, name);
  await setHbaEntry(admin, pg.hbaFile, { db: name, role: name, cidr: "10.9.0.0/16", extraDbs: ["postgres"] });
  const dir = join(deps().paths.envsDir, slug, `scratch-${tag}`);
  mkdirSync(join(dir, "data"), { recursive: true });
  writeFileSync(join(dir, "odoo.conf"), "db_password = pw-scratch-1\n");
  return { name, dir };
}

function queueJob(): string {
  return deps().jobs.queue.enqueue({
    kind: "deploy",
    params: {},
    lockKey: null,
    target: null,
    steps: [{ name: "rehearse", title: "r" }],
    createdBy: "test",
    hostId: null,
  }).id;
}

/** A psql that runs `sql` as `user` with `app` as application_name; killed with -9 like a crashed daemon. */
function orphanSession(user: string, password: string, database: string, sql: string, app: string): Subprocess {
  const p = Bun.spawn(
    ["psql", "-h", pg.host, "-p", String(pg.port), "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1", "-c", sql],
    {
      env: { ...process.env, PGPASSWORD: password, PGAPPNAME: app },
      stdout: "ignore",
      stderr: "ignore",
    },
  );
  orphans.push(p);
  return p;
}

async function untilActive(
  where: (r: { datname: string | null; app: string; usename: string | null }) => boolean,
): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    const rows = await admin<{ datname: string | null; app: string; usename: string | null }[]>`
      SELECT datname, application_name AS app, usename FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()`;
    if (rows.some(where)) return;
    await Bun.sleep(5);
  }
  throw new Error("the session never became active");
}

describe("sweepCopies on a real PostgreSQL", () => {
  test("a finished job's scratch copy goes (db, role, hba line, dir); a queued job's stays; look-alikes stay", async () => {
    const gone = await makeScratch("finished-job");
    const liveJob = queueJob();
    const kept = await makeScratch(liveJob);
    // Look-alikes a user could have: a name outside our pattern, and our pattern owned by someone else.
    await admin.unsafe(`CREATE DATABASE odooops_scratch_mine`);
    await admin.unsafe(`CREATE DATABASE odooops_scratch_abcdefabcd`);
    // Someone works in the look-alike: their session is not ended.
    const user = pgConnect({
      host: pg.host,
      port: pg.port,
      user: pg.user,
      password: pg.password,
      database: "odooops_scratch_abcdefabcd",
    });
    const [userPid] = await user<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    const removed = await sweepCopies(deps(), { atStart: false });
    expect(removed).toEqual([
      `pg_hba line for ${gone.name}`,
      `database ${gone.name}`,
      `role ${gone.name}`,
      `directory ${gone.dir}`,
    ]);
    expect(await dbs()).toEqual(["odooops_scratch_abcdefabcd", kept.name, "odooops_scratch_mine"].sort());
    expect(await roles()).toEqual([kept.name]);
    expect(readHbaEntries(readFileSync(pg.hbaFile, "utf8")).map((e) => e.db)).toEqual([kept.name]);
    expect(existsSync(gone.dir)).toBe(false);
    expect(existsSync(kept.dir)).toBe(true);
    expect(await admin`SELECT 1 FROM pg_stat_activity WHERE pid = ${userPid!.pid}`).toHaveLength(1);
    await user.close();
    // Idempotent.
    expect(await sweepCopies(deps(), { atStart: false })).toEqual([]);
    // At start no job runs yet: the queued job's copy goes too (the job makes it again when it runs).
    expect(await sweepCopies(deps(), { atStart: true })).toContain(`database ${kept.name}`);
    expect(await dbs()).toEqual(["odooops_scratch_abcdefabcd", "odooops_scratch_mine"]);
    expect(await roles()).toEqual([]);
    await admin.unsafe("DROP DATABASE odooops_scratch_mine");
    await admin.unsafe("DROP DATABASE odooops_scratch_abcdefabcd");
  }, 60_000);

  test("a session still writing the copy as its role (pg_restore of a killed daemon) is ended; role with grants elsewhere is dropped", async () => {
    const { name } = await makeScratch("writer-job");
    // A privilege outside the copy: DROP ROLE alone would fail with "objects depend on it".
    await admin.unsafe(`GRANT CONNECT ON DATABASE postgres TO ${name}`);
    const writer = orphanSession(
      name,
      "pw-scratch-1",
      name,
      "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000000000) g",
      "pg_restore",
    );
    await untilActive((r) => r.datname === name);
    writer.kill(9);
    const removed = await sweepCopies(deps(), { atStart: true });
    expect(removed).toContain(`database ${name}`);
    expect(removed).toContain(`role ${name}`);
    expect(await dbs()).toEqual([]);
    expect(await roles()).toEqual([]);
  }, 120_000);

  test("a CREATE DATABASE … TEMPLATE still running for a killed daemon is ended: the copy never appears", async () => {
    await admin.unsafe("CREATE DATABASE odooops_src_big");
    const src = pgConnect({
      host: pg.host,
      port: pg.port,
      user: pg.user,
      password: pg.password,
      database: "odooops_src_big",
    });
    try {
      await src.unsafe("CREATE TABLE big AS SELECT g, repeat(md5(g::text), 8) AS p FROM generate_series(1, 600000) g");
    } finally {
      await src.close();
    }
    const name = `${SCRATCH_PREFIX}${scratchTag("rehearse", "template-job")}`;
    await createRole(admin, name, "pw-scratch-2");
    const copier = orphanSession(
      pg.user,
      pg.password,
      "postgres",
      `CREATE DATABASE ${name} TEMPLATE odooops_src_big OWNER ${name}`,
      copyApplicationName(name),
    );
    await untilActive((r) => r.app === copyApplicationName(name));
    copier.kill(9);
    const removed = await sweepCopies(deps(), { atStart: true });
    expect(removed).toContain(`role ${name}`);
    // The backend was ended before its CREATE committed: nothing of the copy exists, nor will.
    expect(
      await admin`SELECT 1 FROM pg_stat_activity WHERE application_name = ${copyApplicationName(name)}`,
    ).toHaveLength(0);
    expect(await dbs()).toEqual(["odooops_src_big"]);
    expect(await roles()).toEqual([]);
    await admin.unsafe("DROP DATABASE odooops_src_big");
  }, 120_000);

  test("a restore/clone/import copy (<db>_new_<token>) goes with its files once its job ended; a running job's and <db>_old_ stay", async () => {
    const r = await api.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: "shop", tier: "dev" }),
    });
    expect(r.status).toBe(202);
    const env = api.deps.db.select().from(environments).where(eq(environments.slug, "shop")).get()!;
    await createRole(admin, env.dbUser, "pw-env");
    const base = env.dbName.slice(0, 50);
    const ended = replaceNames(env.dbName, envResources(env, deps()).dataDir, "endedtok");
    const running = replaceNames(env.dbName, envResources(env, deps()).dataDir, "livetok1");
    deps().jobs.queue.enqueue({
      kind: "db.import",
      params: { token: "livetok1" },
      lockKey: null,
      target: null,
      steps: [{ name: "load", title: "l" }],
      createdBy: "test",
      hostId: null,
    });
    for (const db of [ended.newDb, running.newDb, ended.oldDb]) await createDatabase(admin, db, env.dbUser);
    // Same pattern, not the env's role: not ours.
    await admin.unsafe(`CREATE DATABASE ${base}_new_zzzzzzzz`);
    for (const d of [ended.stagedDir, running.stagedDir]) mkdirSync(d, { recursive: true });
    mkdirSync(deps().paths.workDir, { recursive: true });
    const work = join(deps().paths.workDir, `import-${ended.newDb}.sql`);
    writeFileSync(work, "-- a production dump");
    const removed = await sweepCopies(deps(), { atStart: true });
    expect(removed).toEqual([`database ${ended.newDb}`, `directory ${ended.stagedDir}`, `file ${work}`]);
    expect(await dbs()).toEqual([]);
    const envDbs = (
      await admin<{ n: string }[]>`SELECT datname AS n FROM pg_database WHERE starts_with(datname, ${base}) ORDER BY 1`
    ).map((x) => x.n);
    expect(envDbs).toEqual([`${base}_new_livetok1`, `${base}_new_zzzzzzzz`, ended.oldDb].sort());
    expect(existsSync(running.stagedDir)).toBe(true);
    for (const db of [running.newDb, ended.oldDb, `${base}_new_zzzzzzzz`]) await admin.unsafe(`DROP DATABASE "${db}"`);
    await admin.unsafe(`DROP ROLE "${env.dbUser}"`);
  }, 60_000);

  test("an ownership-transfer role goes at start only; dropThrowawayRole refuses a superuser", async () => {
    await createRole(admin, "odooops_xfer_0123456789ab", "pw-xfer");
    expect(await sweepCopies(deps(), { atStart: false })).toEqual([]);
    expect(await sweepCopies(deps(), { atStart: true })).toEqual(["role odooops_xfer_0123456789ab"]);
    expect(await roles()).toEqual([]);
    await admin.unsafe("CREATE ROLE odooops_xfer_superuser0 SUPERUSER");
    await expect(dropThrowawayRole(admin, "odooops_xfer_superuser0")).rejects.toThrow(/superuser/);
    expect(await roles()).toEqual(["odooops_xfer_superuser0"]);
    await admin.unsafe("DROP ROLE odooops_xfer_superuser0");
  }, 60_000);
});
