/**
 * Production under policies on a real host: without a policies file the server default makes
 * the deploy wait for approval; a declared `migrations` gate rehearses on a neutralized copy even
 * with deploy.rehearse off, and the live database is left as it was.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import type { DeployOutcome, DeploymentView } from "../../src/deploy/schema";
import { environments } from "../../src/env/env.sql";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { removeByLabel } from "../support/docker";
import { startEnvHost } from "../support/env-host";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { makeRepo, type TestRepo } from "../git/repo";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let repo: TestRepo;
let repoDir: string;
let envId = "";
let slug = "";

const manifest = (version: string) => `{'name': 'Shop extra', 'version': '${version}', 'depends': ['base']}\n`;

beforeAll(async () => {
  host = await startEnvHost({
    configOverrides: {
      deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], runTests: false, rehearse: false },
      tiers: { production: { cpus: 1, memoryMb: 1024, workers: 2 } },
    },
  });
  repoDir = makeTempDir("odooops-prodgates-repo-");
  repo = await makeRepo(repoDir);
  await repo.commit({ "shop_extra/__manifest__.py": manifest("1.0") });
  expect((await api("PUT", "/projects/default", { repoUrl: repo.url })).status).toBe(200);
  const res = await api("POST", "/environments", { name: "prod", tier: "production" });
  const body = (await res.json()) as { job: JobView; env: { slug: string } };
  slug = body.env.slug;
  expect((await host.waitJob(body.job.id)).error).toBeNull();
  envId = envRow().id;
}, 240_000);

afterAll(async () => {
  if (envId) await removeByLabel(`odooops.env=${envId}`);
  await host?.stop();
  if (repoDir) removeTempDir(repoDir);
}, 120_000);

function api(method: string, path: string, body?: unknown): Promise<Response> {
  return host.api.request(`/api/v1${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

function envRow() {
  return host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
}

async function queueDeploy(): Promise<{ deployment: DeploymentView; job: JobView }> {
  const res = await api("POST", `/environments/${slug}/deployments`, {});
  expect(res.status).toBe(202);
  const out = (await res.json()) as DeployOutcome;
  if (out.dryRun) throw new Error("unexpected dry run");
  return out;
}

async function deployment(id: string): Promise<DeploymentView> {
  return (await (await api("GET", `/deployments/${id}`)).json()) as DeploymentView;
}

async function liveFacts(): Promise<{ activeCrons: number; neutralized: string | null }> {
  const sql = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password, database: envRow().dbName });
  try {
    const [c] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_cron WHERE active`;
    const [p] = await sql<{ value: string }[]>`SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'`;
    return { activeCrons: c?.n ?? 0, neutralized: p?.value ?? null };
  } finally {
    await sql.close();
  }
}

describe("production gates", () => {
  test("no policies file: the server default tests and rehearses production, and waits for no approval", async () => {
    const out = await queueDeploy();
    const job = await host.waitJob(out.job.id, 300_000);
    expect(job.error).toBeNull();
    const d = await deployment(out.deployment.id);
    expect(d).toMatchObject({ status: "success", current: true, approval: null });
    expect(d.gates).toMatchObject({ source: "default", approval: null });
    expect(job.steps.find((s) => s.name === "approval")?.status).toBe("skipped");
    expect(job.steps.find((s) => s.name === "rehearse")?.status).toBe("done");
    expect(d.backupId).not.toBeNull();
  }, 300_000);

  test("a declared migrations gate rehearses on a neutralized copy (deploy.rehearse off); the live database is untouched by it", async () => {
    const before = await liveFacts();
    await repo.commit({ ".odooops/policies.yaml": "health_gates:\n  production:\n    migrations: { required: true }\n", "shop_extra/__manifest__.py": manifest("1.1") });
    const out = await queueDeploy();
    const job = await host.waitJob(out.job.id, 300_000);
    expect(job.error).toBeNull();
    expect(job.steps.find((s) => s.name === "rehearse")?.status).toBe("done");
    expect(job.steps.find((s) => s.name === "approval")?.status).toBe("skipped");
    const log = host.deps.jobs.logs.read(out.job.id, 0, 16 * 1024 * 1024).text;
    expect(log).toMatch(/neutralized the copy: \d+ crons and \d+ mail servers off/);
    expect(log).toContain("rehearsal passed");
    expect(await liveFacts()).toEqual(before);
    expect(before.neutralized).not.toBe("True");
    expect(await deployment(out.deployment.id)).toMatchObject({ status: "success", modulesUpdated: [{ name: "shop_extra", from: "17.0.1.0", to: "17.0.1.1" }] });
  }, 300_000);
});
