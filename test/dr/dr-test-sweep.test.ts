/**
 * A DR test of another host's env, killed mid-test (kill -9 of the real job process while the
 * copy is booted): this host has no row of that env, only the job's params named its throwaway
 * container, network, scratch database, role, pg_hba line and directories. The start-up sweep
 * every host runs (daemon/leftovers.ts) removes all of it by odooops' naming and labels; a real
 * env's container, network and files on the same host, and a look-alike container odooops did not
 * label, are untouched.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { removeLeftoverCopies } from "../../src/daemon/leftovers";
import { backups } from "../../src/db/backup.sql";
import { SCRATCH_DIR_PREFIX, SCRATCH_PREFIX, scratchTag } from "../../src/db/copies/names";
import { drTestContainer, drTestJob, drTestNetwork } from "../../src/dr/dr-test-job";
import { remoteDrTest } from "../../src/dr/test-placement";
import type { Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { runJob } from "../support/agents";
import { containerRunning, crashingAgents } from "../support/agent-crash";
import { startEnvHost } from "../support/env-host";
import { scratchPgTraces } from "../support/scratch-traces";
import { startS3, type TestS3 } from "../support/s3";
import { randomSuffix } from "../support/tmp";

let s3: TestS3;
let host: Awaited<ReturnType<typeof startEnvHost>>;
let admin: SQL;
let agents: ReturnType<typeof crashingAgents>;
const slug = `drs-${randomSuffix(6)}`;
/** The env of "another host" whose test ran here: no row of it in this host's state. */
const foreignSlug = `drf-${randomSuffix(6)}`;
let decoy = "";

beforeAll(async () => {
  s3 = await startS3();
  const target = await s3.target(`drs-${randomSuffix()}`, { prefix: "odooops" });
  host = await startEnvHost({ agent: false, configOverrides: { backups: { s3: target } } });
  admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password });
  agents = crashingAgents(host.api.root, host.config);
}, 120_000);

afterAll(async () => {
  agents?.stop();
  if (decoy) await run({ argv: ["docker", "rm", "-f", decoy] }, { nothrow: true });
  await admin?.close();
  await host?.stop();
  await s3?.destroy();
}, 120_000);

const api = (method: string, path: string, body?: unknown) =>
  host.api.request(`/api/v1${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

function foreignEnv(): Environment {
  const real = host.env(slug);
  return {
    ...real,
    id: Bun.randomUUIDv7(),
    name: foreignSlug,
    slug: foreignSlug,
    domain: `${foreignSlug}.elsewhere.test`,
    dbName: `odoo_${foreignSlug.replace(/-/g, "_")}`,
    dbUser: `odoo_${foreignSlug.replace(/-/g, "_")}`,
  };
}

async function names(...argv: string[]): Promise<string[]> {
  const r = await run({ argv: ["docker", ...argv] });
  return r.stdout.split("\n").filter(Boolean);
}

/** Every trace of a DR test on this host: scratch database, role, pg_hba line, directories, container, network. */
async function traces(): Promise<string[]> {
  const envDirs = readdirSync(host.deps.paths.envsDir);
  const scratchDirs = envDirs.flatMap((d) =>
    readdirSync(join(host.deps.paths.envsDir, d)).filter((e) => e.startsWith(SCRATCH_DIR_PREFIX)),
  );
  const prefix = `${host.config.docker.namePrefix}-`;
  const drtest = (n: string) => n.startsWith(prefix) && n.endsWith("drtest");
  return [
    ...(await scratchPgTraces(admin, host.config.postgres.hbaFile)),
    ...envDirs.filter((d) => d === foreignSlug).map((d) => `env dir ${d}`),
    ...scratchDirs.map((d) => `dir ${d}`),
    ...(await names("ps", "-a", "--format", "{{.Names}}")).filter(drtest).map((c) => `container ${c}`),
    ...(await names("network", "ls", "--format", "{{.Name}}")).filter(drtest).map((n) => `network ${n}`),
  ];
}

describe("the start-up sweep after a DR test of another host's env was killed here", () => {
  test("a real env with a backup on S3", async () => {
    const res = await api("POST", "/environments", { name: slug, tier: "production" });
    expect((await runJob(host, ((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
    const b = await api("POST", `/environments/${slug}/backups`);
    expect((await runJob(host, ((await b.json()) as JobView).id)).status).toBe("succeeded");
  }, 240_000);

  test("kill -9 while the copy boots: every trace is found without an env row and removed; the real env is untouched", async () => {
    const real = host.env(slug);
    const row = host.deps.db.select().from(backups).where(eq(backups.envId, real.id)).get()!;
    expect(row.s3Key).not.toBeNull();
    // The job exactly as the coordinator queues it for another host (dr/dr-test.ts), env and all in its params.
    const foreign = foreignEnv();
    const job = host.deps.jobs.enqueue(
      drTestJob,
      {
        envId: foreign.id,
        slug: foreign.slug,
        drTestId: Bun.randomUUIDv7(),
        backupId: row.id,
        remote: remoteDrTest(foreign, row, real.odooImage),
      },
      "test",
    );
    const container = drTestContainer(foreign, host.deps);
    const network = drTestNetwork(foreign, host.deps);
    const copy = `${SCRATCH_PREFIX}${scratchTag("dr-test", job.id)}`;
    await agents.killOnceRunning(container);

    // Named like a DR test's container, but not labelled by odooops: not ours to remove.
    decoy = `${host.config.docker.namePrefix}-${randomSuffix(6)}-init-drtest`;
    await run({
      argv: ["docker", "run", "-d", "--name", decoy, "--entrypoint", "sleep", real.odooImage, "600"],
    });
    const realContainer = real.containerName!;
    expect(await containerRunning(realContainer)).toBe(true);

    const left = await traces();
    expect(left).toEqual(
      expect.arrayContaining([
        `database ${copy}`,
        `role ${copy}`,
        `hba ${copy}`,
        `env dir ${foreignSlug}`,
        `container ${container}`,
        `network ${network}`,
      ]),
    );

    const removed = await removeLeftoverCopies(host.deps);
    expect(removed).toEqual(
      expect.arrayContaining([
        `database ${copy}`,
        `role ${copy}`,
        `container ${container}`,
        `network ${network}`,
        `directory ${join(host.deps.paths.envsDir, foreignSlug)}`,
      ]),
    );
    expect(await traces()).toEqual([`container ${decoy}`]);
    expect(await containerRunning(decoy)).toBe(true);
    // The real env: its container still runs, its network, files and database are there, it answers.
    expect(await containerRunning(realContainer)).toBe(true);
    expect(await names("network", "ls", "--format", "{{.Name}}")).toContain(envResources(real, host.deps).network);
    expect(existsSync(envResources(real, host.deps).confFile)).toBe(true);
    const dbs = await admin<{ n: string }[]>`SELECT datname AS n FROM pg_database WHERE datname = ${real.dbName}`;
    expect(dbs).toHaveLength(1);
    expect((await host.viaNginx(real.domain, "/web/health")).status).toBe(200);

    // Idempotent: a second start finds nothing more.
    expect(await removeLeftoverCopies(host.deps)).toEqual([]);
  }, 300_000);
});
