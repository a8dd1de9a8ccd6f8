/**
 * kill -9 in the middle of a DR test: a real job process is killed (SIGKILL) while the restored
 * copy is booted (its database, role, pg_hba line, directory and container all exist), so they
 * are orphaned as a crashed daemon's would be. The daemon's start-up sweep removes every trace,
 * the job resumes on a new agent, passes, is recorded once, and leaves nothing behind. And a copy
 * that never turns healthy fails at the health step, recorded with the reason, nothing left.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { readdirSync } from "node:fs";
import { eq } from "drizzle-orm";
import { removeLeftoverCopies } from "../../src/daemon/leftovers";
import { SCRATCH_DIR_PREFIX, SCRATCH_PREFIX, scratchTag } from "../../src/db/copies/names";
import { drTests } from "../../src/dr/dr-tests.sql";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { drTestContainer, drTestJob } from "../../src/dr/dr-test-job";
import { crashThenResume, runJob } from "../support/agents";
import { crashingAgents } from "../support/agent-crash";
import { startEnvHost } from "../support/env-host";
import { scratchPgTraces } from "../support/scratch-traces";
import { randomSuffix } from "../support/tmp";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let admin: SQL;
let agents: ReturnType<typeof crashingAgents>;
const slug = `drk-${randomSuffix(6)}`;

beforeAll(async () => {
  host = await startEnvHost({ agent: false });
  admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password });
  agents = crashingAgents(host.api.root, host.config);
}, 120_000);

afterAll(async () => {
  agents?.stop();
  await admin?.close();
  await host?.stop();
}, 120_000);

const api = (method: string, path: string, body?: unknown) =>
  host.api.request(`/api/v1${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

function env(): Environment {
  return host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
}

/** Every trace of a scratch copy, and the DR test's container. */
async function traces(): Promise<string[]> {
  const dirs = readdirSync(envResources(env(), host.deps).dir).filter((d) => d.startsWith(SCRATCH_DIR_PREFIX));
  const name = drTestContainer(env(), host.deps);
  const ps = await run({ argv: ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", `name=^${name}$`] });
  return [
    ...(await scratchPgTraces(admin, host.config.postgres.hbaFile)),
    ...dirs.map((d) => `dir ${d}`),
    ...ps.stdout
      .split("\n")
      .filter(Boolean)
      .map((c) => `container ${c}`),
  ];
}

describe("kill -9 during a DR test", () => {
  test("a production env with a backup", async () => {
    const res = await api("POST", "/environments", { name: slug, tier: "production" });
    expect((await runJob(host, ((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
    const b = await api("POST", `/environments/${slug}/backups`);
    expect((await runJob(host, ((await b.json()) as JobView).id)).status).toBe("succeeded");
  }, 240_000);

  test("killed while the copy boots: the start sweep removes it all, the job resumes and passes", async () => {
    const res = await api("POST", "/dr/tests", { env: slug });
    expect(res.status).toBe(202);
    const started = ((await res.json()) as { started: { drTestId: string; job: JobView }[] }).started[0]!;
    const copy = `${SCRATCH_PREFIX}${scratchTag("dr-test", started.job.id)}`;
    const container = drTestContainer(env(), host.deps);
    await agents.killOnceRunning(container);

    // What the crash left: the restored copy, its login and the running container.
    const left = await traces();
    expect(left).toEqual(
      expect.arrayContaining([`database ${copy}`, `role ${copy}`, `hba ${copy}`, `container ${container}`]),
    );

    // The restart: the daemon's start-up sweep, then the job resumes on a new agent.
    const removed = await removeLeftoverCopies(host.deps);
    expect(removed).toEqual(expect.arrayContaining([`database ${copy}`, `role ${copy}`, `container ${container}`]));
    expect(await traces()).toEqual([]);
    expect(host.deps.jobs.queue.recover({ hostId: "test", currentOwner: "test:resumer" })).toBe(1);
    const done = await runJob(host, started.job.id);
    expect(done.error).toBeNull();
    expect(done.status).toBe("succeeded");
    expect(await traces()).toEqual([]);
    const rows = host.deps.db.select().from(drTests).where(eq(drTests.id, started.drTestId)).all();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: "passed", failedStep: null });
    expect(rows[0]!.rtoMs).toBeGreaterThan(0);
  }, 300_000);

  test('the agent dies right after "backup" (before it was recorded): resumed, passes once, nothing left', async () => {
    const res = await api("POST", "/dr/tests", { env: slug });
    const started = ((await res.json()) as { started: { drTestId: string; job: JobView }[] }).started[0]!;
    const job = await crashThenResume(
      host,
      started.job.id,
      drTestJob.steps.findIndex((s) => s.name === "backup"),
    );
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    const rows = host.deps.db.select().from(drTests).where(eq(drTests.id, started.drTestId)).all();
    expect(rows.map((r) => r.outcome)).toEqual(["passed"]);
    expect(await traces()).toEqual([]);
  }, 240_000);

  test("a copy that does not turn healthy in time fails at the health step, recorded, nothing left behind", async () => {
    const cfg = host.deps.config.deploy;
    const timeout = cfg.healthTimeoutSec;
    // The env's image replaced by one that never binds its ports (the stand-in sleeping an hour
    // before it starts), so the copy cannot answer however fast the machine is.
    const neverReady = `odooops-test/odoo-never-ready:${randomSuffix()}`;
    await run({
      argv: ["docker", "build", "-q", "-t", neverReady, "-"],
      stdin: `FROM ${env().odooImage}\nENV STANDIN_BOOT_DELAY=3600\n`,
    });
    // The serving image is the running container's; without a container name it is the row's.
    const { odooImage: image, containerName } = env();
    host.deps.db
      .update(environments)
      .set({ odooImage: neverReady, containerName: null })
      .where(eq(environments.slug, slug))
      .run();
    cfg.healthTimeoutSec = 1;
    try {
      const res = await api("POST", "/dr/tests", { env: slug });
      const started = ((await res.json()) as { started: { drTestId: string; job: JobView }[] }).started[0]!;
      const job = await runJob(host, started.job.id);
      expect(job.status).toBe("failed");
      const row = host.deps.db.select().from(drTests).where(eq(drTests.id, started.drTestId)).get();
      expect(row).toMatchObject({ outcome: "failed", failedStep: "health", rtoMs: null });
      expect(row!.reason).toContain("did not turn healthy within 1 s");
      expect(await traces()).toEqual([]);
    } finally {
      cfg.healthTimeoutSec = timeout;
      host.deps.db
        .update(environments)
        .set({ odooImage: image, containerName })
        .where(eq(environments.slug, slug))
        .run();
      await run({ argv: ["docker", "rmi", "-f", neverReady] }, { nothrow: true });
    }
  }, 240_000);
});
