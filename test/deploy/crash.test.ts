/**
 * kill -9 during a deploy: the agent dies right after each step did its work (before that was
 * recorded); a new agent resumes the job, which ends with exactly one release running, nginx
 * serving it and the database updated.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { deployJob } from "../../src/deploy/deploy-job";
import type { DeployOutcome, DeploymentView } from "../../src/deploy/schema";
import { environments } from "../../src/env/env.sql";
import { run } from "../../src/exec/run";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { crashThenResume, runJob } from "../support/agents";
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
  host = await startEnvHost({ agent: false, configOverrides: { deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], runTests: false } } });
  repoDir = makeTempDir("odooops-crash-repo-");
  repo = await makeRepo(repoDir);
  await repo.commit({ "shop_extra/__manifest__.py": manifest("1.0") });
  expect((await api("PUT", "/projects/default", { repoUrl: repo.url })).status).toBe(200);
  const res = await api("POST", "/environments", { name: "crashy", tier: "dev" });
  const body = (await res.json()) as { job: JobView; env: { slug: string } };
  slug = body.env.slug;
  expect((await runJob(host, body.job.id)).error).toBeNull();
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

async function runningWeb(): Promise<string[]> {
  const r = await run({ argv: ["docker", "ps", "--format", "{{.Names}}", "--filter", `label=odooops.env=${envId}`, "--filter", "label=odooops.role=web"] });
  return r.stdout.split("\n").filter(Boolean);
}

async function moduleVersion(): Promise<string | undefined> {
  const sql = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password, database: envRow().dbName });
  try {
    return (await sql<{ v: string }[]>`SELECT latest_version AS v FROM ir_module_module WHERE name = 'shop_extra'`)[0]?.v;
  } finally {
    await sql.close();
  }
}

describe("kill -9 during a deploy, then resume", () => {
  const names = deployJob.steps.map((s) => s.name);
  // Every step that runs with these settings (tests and backup are off for this dev env).
  const steps = deployJob.steps.filter((s) => !s.when).map((s) => s.name);
  test("the crash points cover the whole deploy", () => {
    expect(steps).toEqual(["source", "build", "plan", "rehearse", "migrate", "start", "switch", "prune"]);
  });
  steps.forEach((step, n) => {
    test(`the agent dies right after "${step}": resumed, one release running and serving, database updated`, async () => {
      const version = `1.${n + 1}`;
      await repo.commit({ "shop_extra/__manifest__.py": manifest(version) });
      const res = await api("POST", `/environments/${slug}/deployments`, {});
      expect(res.status).toBe(202);
      const out = (await res.json()) as DeployOutcome;
      if (out.dryRun) throw new Error("unexpected dry run");
      const job = await crashThenResume(host, out.job.id, names.indexOf(step));
      expect(job.error).toBeNull();
      expect(job.status).toBe("succeeded");
      const d = (await (await api("GET", `/deployments/${out.deployment.id}`)).json()) as DeploymentView;
      expect(d).toMatchObject({ status: "success", current: true });
      const env = envRow();
      expect(env.release).toBe(d.release);
      expect(await runningWeb()).toEqual([env.containerName!]);
      expect(await moduleVersion()).toBe(`17.0.${version}`);
      expect((await host.viaNginx(env.domain, "/web/health?db_server_status=1")).status).toBe(200);
    }, 300_000);
  });
});
