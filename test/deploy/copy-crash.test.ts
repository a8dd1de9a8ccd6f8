/**
 * No copy of production is left behind: a real job process is killed (SIGKILL, like a crash or
 * the OOM killer) at every point of a deploy's rehearsal copy — before its role exists, after,
 * while the database streams into the copy, after the copy, and between dropping the copy and
 * its role. Its pg_dump/pg_restore and containers are orphaned as a crashed daemon's would be.
 * Then the daemon's start-up sweep runs and the deploy resumes: no database, role, pg_hba line
 * or directory of any scratch copy remains, and the env serves the new release.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL, Subprocess } from "bun";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeLeftoverCopies } from "../../src/daemon/leftovers";
import { SCRATCH_PREFIX, scratchTag } from "../../src/db/copies/names";
import { envResources } from "../../src/env/resources";
import { pgConnect, readHbaEntries } from "../../src/host/postgres";
import { runJob } from "../support/agents";
import { type DeployEnv, shopManifest, startDeployEnv } from "../support/deploy-env";
import { makeTempDir, removeTempDir, randomSuffix } from "../support/tmp";

let t: DeployEnv;
let admin: SQL;
let work: string;
const children: Subprocess[] = [];

beforeAll(async () => {
  t = await startDeployEnv({
    agent: false,
    env: { name: `cc-${randomSuffix(5)}`, tier: "dev" },
    files: { "shop_extra/__manifest__.py": shopManifest("1.0") },
    configOverrides: { deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], runTests: false } },
  });
  work = makeTempDir("odooops-copy-crash-");
  writeFileSync(join(work, "config.json"), JSON.stringify(t.host.config));
  admin = pgConnect({ host: t.host.pg.host, port: t.host.pg.port, user: t.host.pg.user, password: t.host.pg.password });
  // Enough rows that the copy takes a while: the kill must land while it streams. Owned by the
  // env's role, as Odoo's own tables are (the copy dumps as that role).
  const db = pgConnect({
    host: t.host.pg.host,
    port: t.host.pg.port,
    user: t.host.pg.user,
    password: t.host.pg.password,
    database: t.envRow().dbName,
  });
  try {
    await db.unsafe(`SET ROLE "${t.envRow().dbUser}"`);
    await db.unsafe(
      "CREATE TABLE crash_filler AS SELECT g AS id, repeat(md5(g::text), 12) AS payload FROM generate_series(1, 200000) g",
    );
  } finally {
    await db.close();
  }
}, 240_000);

afterAll(async () => {
  for (const c of children) c.kill(9);
  await admin?.close();
  await t?.stop();
  if (work) removeTempDir(work);
}, 120_000);

/** Every trace of any scratch copy: databases, roles, pg_hba lines, directories. */
async function scratchTraces(): Promise<string[]> {
  const dbs = await admin<
    { n: string }[]
  >`SELECT datname AS n FROM pg_database WHERE starts_with(datname, ${SCRATCH_PREFIX})`;
  const roles = await admin<
    { n: string }[]
  >`SELECT rolname AS n FROM pg_roles WHERE starts_with(rolname, ${SCRATCH_PREFIX}) OR starts_with(rolname, 'odooops_xfer_')`;
  const hba = readHbaEntries(readFileSync(t.host.config.postgres.hbaFile, "utf8")).filter((e) =>
    e.db.startsWith(SCRATCH_PREFIX),
  );
  const dirs = readdirSync(envResources(t.envRow(), t.host.deps).dir).filter((d) => d.startsWith("scratch-"));
  return [
    ...dbs.map((r) => `database ${r.n}`),
    ...roles.map((r) => `role ${r.n}`),
    ...hba.map((e) => `hba ${e.db}`),
    ...dirs.map((d) => `dir ${d}`),
  ];
}

function startChild(point: string | null, pauseFile: string): Subprocess {
  const env: Record<string, string | undefined> = {
    ...process.env,
    ODOOOPS_TEST_PAUSE_AT: point ?? undefined,
    ODOOOPS_TEST_PAUSE_FILE: point ? pauseFile : undefined,
  };
  const child = Bun.spawn(
    [
      "bun",
      join(import.meta.dir, "../support/agent-child.ts"),
      t.host.api.root,
      join(work, "config.json"),
      `test:child-${randomSuffix(6)}`,
    ],
    { env, stdout: "ignore", stderr: "ignore" },
  );
  children.push(child);
  return child;
}

async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 240_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** The copy is being written: a session restoring into it, or the admin session creating it. */
async function copying(db: string): Promise<boolean> {
  const [row] = await admin`
    SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()
      AND (datname = ${db} OR application_name = ${`odooops copy ${db}`})`;
  return row !== undefined;
}

type Point =
  | "scratch:before-role"
  | "scratch:after-role"
  | "during the copy"
  | "scratch:after-copy"
  | "scratch:during-drop";
let seq = 0;

/** Deploys a new version, kills the job process at `point` of the `purpose` copy, restarts, resumes. */
async function killRestartResume(purpose: "rehearse" | "tests", point: Point): Promise<void> {
  const version = `1.${++seq}`;
  await t.repo.commit({ "shop_extra/__manifest__.py": shopManifest(version) });
  const { job } = await t.queueDeploy();
  const copyDb = `${SCRATCH_PREFIX}${scratchTag(purpose, job.id)}`;
  const pauseFile = join(work, `pause-${seq}`);
  const child = startChild(point === "during the copy" ? null : point, pauseFile);
  if (point === "during the copy") await until("the copy to stream", () => copying(copyDb));
  else await until(`the pause at ${point}`, () => existsSync(`${pauseFile}.reached`));
  child.kill(9);
  await child.exited;

  // What the crash left (the reproduction): from the role on, a copy with its login exists.
  const left = await scratchTraces();
  if (point !== "scratch:before-role") expect(left).toContain(`role ${copyDb}`);
  if (point === "scratch:after-copy") expect(left).toContain(`database ${copyDb}`);

  // The restart: the daemon's start-up sweep, then the job resumes.
  const removed = await removeLeftoverCopies(t.host.deps);
  expect(await scratchTraces()).toEqual([]);
  if (point !== "scratch:before-role") expect(removed).toContain(`role ${copyDb}`);
  expect(t.host.deps.jobs.queue.recover({ hostId: "test", currentOwner: "test:resumer" })).toBe(1);
  const done = await runJob(t.host, job.id);
  expect(done.error).toBeNull();
  expect(done.status).toBe("succeeded");
  expect(await scratchTraces()).toEqual([]);
  expect(await t.moduleVersion()).toBe(`17.0.${version}`);
  const env = t.envRow();
  expect((await t.host.viaNginx(env.domain, "/web/health?db_server_status=1")).status).toBe(200);
  // The removal is on the record.
  if (removed.length > 0) {
    t.host.deps.audit.flush();
    const audit = t.host.deps.db.$client
      .query("SELECT details FROM audit_logs WHERE action = 'copies.removed' ORDER BY seq DESC LIMIT 1")
      .get() as { details: string } | null;
    expect(JSON.parse(audit?.details ?? "{}").removed).toEqual(removed);
  }
}

describe("kill -9 while a deploy's rehearsal copies the database", () => {
  const points: Point[] = [
    "scratch:before-role",
    "scratch:after-role",
    "during the copy",
    "scratch:after-copy",
    "scratch:during-drop",
  ];
  for (const point of points) {
    test(
      `killed at ${point}: after the restart no copy remains and the deploy completes`,
      () => killRestartResume("rehearse", point),
      400_000,
    );
  }
});

describe("kill -9 while a deploy's tests gate has its throwaway database", () => {
  test("the policy turns the tests gate on", async () => {
    await t.repo.commit({
      ".odooops/policies.yaml": "version: 1\nhealth_gates:\n  dev:\n    tests: { required: true }\n",
    });
  });
  // Its database is empty (no copy): the points are its role, and between dropping database and role.
  for (const point of ["scratch:after-role", "scratch:during-drop"] as const) {
    test(
      `killed at ${point}: after the restart no copy remains and the deploy completes`,
      () => killRestartResume("tests", point),
      400_000,
    );
  }
});
