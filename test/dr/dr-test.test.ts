/**
 * `dr test` against real services: a production env (PostgreSQL, dockerd, the Odoo stand-in)
 * with a local backup. A healthy backup passes with RTO and RPO recorded; a tampered dump fails
 * at the verify step with the reason; an agent killed after each step resumes and still cleans
 * up (after "test" here; after "backup" and a real kill -9 mid-step in dr-test-kill.test.ts); bad
 * input is refused with nothing recorded. After each: no scratch database, role,
 * container or directory is left.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { appendFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import { SCRATCH_DIR_PREFIX, SCRATCH_PREFIX } from "../../src/db/copies/names";
import { drTestContainer, drTestJob } from "../../src/dr/dr-test-job";
import { drTests } from "../../src/dr/dr-tests.sql";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { crashThenResume, runJob } from "../support/agents";
import { startEnvHost } from "../support/env-host";
import { randomSuffix } from "../support/tmp";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let admin: SQL;
const slug = `drt-${randomSuffix(6)}`;

type Report = {
  id: string;
  env: string;
  backupId: string;
  outcome: string;
  failedStep: string | null;
  reason: string | null;
  rtoMs: number | null;
  rpoSec: number | null;
  startedAt: string | null;
  finishedAt: string | null;
};
type Started = { started: { env: string; drTestId: string; backupId: string; job: JobView }[]; skipped: unknown[] };

beforeAll(async () => {
  host = await startEnvHost({ agent: false });
  admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password });
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await host?.stop();
}, 120_000);

const api = (method: string, path: string, body?: unknown) =>
  host.api.request(`/api/v1${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

function env(): Environment {
  return host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
}

async function createEnv(name: string, tier: string): Promise<void> {
  const res = await api("POST", "/environments", { name, tier });
  expect(res.status).toBe(202);
  expect((await runJob(host, ((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
}

async function backup(): Promise<string> {
  const b = await api("POST", `/environments/${slug}/backups`);
  const job = await runJob(host, ((await b.json()) as JobView).id);
  expect(job.status).toBe("succeeded");
  return String(job.result?.backupId);
}

async function reports(query = ""): Promise<Report[]> {
  const res = await api("GET", `/dr/tests${query}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { tests: Report[] }).tests;
}

/** Nothing of any DR test copy: database, role, pg_hba line, directory, container. */
async function expectNothingLeft(): Promise<void> {
  const dbs = await admin<
    { d: string }[]
  >`SELECT datname AS d FROM pg_database WHERE starts_with(datname, ${SCRATCH_PREFIX})`;
  expect(dbs.map((r) => r.d)).toEqual([]);
  const roles = await admin<
    { r: string }[]
  >`SELECT rolname AS r FROM pg_roles WHERE starts_with(rolname, ${SCRATCH_PREFIX})`;
  expect(roles.map((r) => r.r)).toEqual([]);
  const hba = await Bun.file(host.config.postgres.hbaFile).text();
  expect(hba).not.toContain(SCRATCH_PREFIX);
  const e = env();
  expect(readdirSync(envResources(e, host.deps).dir).filter((n) => n.startsWith(SCRATCH_DIR_PREFIX))).toEqual([]);
  const name = drTestContainer(e, host.deps);
  const ps = await run({ argv: ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", `name=^${name}$`] });
  expect(ps.stdout.trim()).toBe("");
}

async function startTest(body: Record<string, unknown>): Promise<Started> {
  const res = await api("POST", "/dr/tests", body);
  expect(res.status).toBe(202);
  return (await res.json()) as Started;
}

describe("dr test", () => {
  let good = "";

  test("bad input: an unknown env, an env without backups: refused with the reason, nothing recorded", async () => {
    await createEnv(slug, "production");
    const count = () => host.deps.db.select().from(drTests).all().length;
    const unknown = await api("POST", "/dr/tests", { env: "no-such-env" });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toContain("no-such-env");
    const reason = `${slug} has no completed backup to test; make one first: odooops db backup ${slug}`;
    const none = await api("POST", "/dr/tests", { env: slug });
    expect(none.status).toBe(400);
    expect(((await none.json()) as { error: { message: string } }).error.message).toBe(reason);
    // Without --env: every production env; one without a backup is named with the reason, not run.
    expect(await startTest({})).toEqual({ started: [], skipped: [{ env: slug, reason }] });
    expect((await api("POST", "/dr/tests", { env: slug, extra: 1 })).status).toBe(400);
    expect((await api("GET", "/dr/tests?since=yesterday")).status).toBe(400);
    expect((await api("GET", "/dr/tests?env=no-such-env")).status).toBe(404);
    expect(count()).toBe(0);
    expect(await reports()).toEqual([]);
    good = await backup();
  }, 240_000);

  test("a healthy backup passes: RTO and RPO recorded, the env untouched, nothing left behind", async () => {
    const before = env();
    // Production runs workers: the health check of the copy included its gevent (websocket) port.
    expect(before.workers).toBeGreaterThan(0);
    // Without --env: every production env, one job each.
    const out = await startTest({});
    expect(out.started.map((s) => [s.env, s.backupId])).toEqual([[slug, good]]);
    const job = await runJob(host, out.started[0]!.job.id);
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    const [r] = await reports(`?env=${slug}`);
    expect(r).toMatchObject({ id: out.started[0]!.drTestId, env: slug, backupId: good, outcome: "passed" });
    expect(r!.rtoMs).toBeGreaterThan(0);
    // RPO: the backup's age when the test started, in whole seconds (0 when it is that fresh).
    const taken = host.deps.db.select().from(backups).where(eq(backups.id, good)).get()!.createdAt;
    expect(r!.rpoSec).toBe(Math.round((Date.parse(r!.startedAt!) - Date.parse(taken)) / 1000));
    expect(r!.rpoSec).toBeGreaterThanOrEqual(0);
    expect(r!.failedStep).toBeNull();
    expect(Date.parse(r!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(r!.startedAt!));
    await expectNothingLeft();
    // The live env kept its container, database and status.
    expect(env()).toMatchObject({ status: "active", containerName: before.containerName, dbName: before.dbName });
    // Metrics and health check see it.
    const metrics = await (await api("GET", "/metrics")).text();
    expect(metrics).toContain(`odooops_dr_test_last_outcome{env="${slug}",tier="production"} 1`);
    expect(metrics).toMatch(new RegExp(`odooops_dr_test_rto_seconds\\{env="${slug}",tier="production"\\} [0-9.]+`));
    expect(metrics).toContain(`odooops_dr_test_last_success_timestamp_seconds{env="${slug}",tier="production"}`);
    const health = (await (await api("GET", `/health/check?env=${slug}`)).json()) as {
      envs: { dr: { level: string; text: string } }[];
    };
    // Its age is counted when health is asked (whole minutes): 0m unless the machine is slow.
    expect(health.envs[0]!.dr).toEqual({ level: "ok", text: expect.stringMatching(/^passed \d+m ago$/) });
  }, 240_000);

  // After "backup": test/dr/dr-test-kill.test.ts (each file stays under 3 minutes).
  for (const step of ["test"]) {
    test(`the agent dies right after "${step}": resumed, passes once, nothing left behind`, async () => {
      const out = await startTest({ env: slug });
      const id = out.started[0]!.drTestId;
      const job = await crashThenResume(
        host,
        out.started[0]!.job.id,
        drTestJob.steps.findIndex((s) => s.name === step),
      );
      expect(job.error).toBeNull();
      expect(job.status).toBe("succeeded");
      const rows = host.deps.db.select().from(drTests).where(eq(drTests.id, id)).all();
      expect(rows.map((r) => r.outcome)).toEqual(["passed"]);
      expect(rows[0]!.rtoMs).toBeGreaterThan(0);
      await expectNothingLeft();
    }, 240_000);
  }

  test("a tampered dump fails at the verify step with the reason, recorded, nothing left behind", async () => {
    const tampered = await backup();
    const row = host.deps.db.select().from(backups).where(eq(backups.id, tampered)).get()!;
    appendFileSync(join(row.localPath!, "db.dump"), "tampered");
    const out = await startTest({ env: slug });
    expect(out.started[0]!.backupId).toBe(tampered);
    const job = await runJob(host, out.started[0]!.job.id);
    expect(job.status).toBe("failed");
    const [r] = await reports(`?env=${slug}`);
    expect(r).toMatchObject({ backupId: tampered, outcome: "failed", failedStep: "verify", rtoMs: null });
    expect(r!.reason).toContain("does not match its manifest");
    await expectNothingLeft();
    const metrics = await (await api("GET", "/metrics")).text();
    expect(metrics).toContain(`odooops_dr_test_last_outcome{env="${slug}",tier="production"} 0`);
    const health = (await (await api("GET", `/health/check?env=${slug}`)).json()) as {
      level: string;
      envs: { dr: { level: string; text: string } }[];
    };
    expect(health.level).toBe("red");
    expect(health.envs[0]!.dr).toEqual({ level: "red", text: expect.stringMatching(/^failed \d+m ago$/) });
    // The list is newest first and keeps the earlier passes.
    const all = await reports(`?env=${slug}&since=1d`);
    expect(all.map((t) => t.outcome)).toEqual(["failed", "passed", "passed"]);
  }, 240_000);
});
