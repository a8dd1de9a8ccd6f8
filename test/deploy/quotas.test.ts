/**
 * resource_quotas on a real host: a deploy of a commit whose policy has a quota caps the env's
 * container limits and odoo.conf workers; env create refuses a request above the quota (nothing
 * created) and caps the tier's defaults; storage above the quota blocks deploys and shows in
 * `env get`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import type { DeployOutcome, DeploymentView } from "../../src/deploy/schema";
import { environments } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import type { EnvDetail } from "../../src/env/schema";
import { run } from "../../src/exec/run";
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

const manifest = `{'name': 'Shop extra', 'version': '1.0', 'depends': ['base']}\n`;

beforeAll(async () => {
  host = await startEnvHost({
    configOverrides: {
      deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], runTests: false, rehearse: false },
      tiers: { dev: { workers: 2, cpus: 1, memoryMb: 1024 } },
    },
  });
  repoDir = makeTempDir("odooops-quota-repo-");
  repo = await makeRepo(repoDir);
  await repo.commit({ "shop_extra/__manifest__.py": manifest });
  expect((await api("PUT", "/projects/default", { repoUrl: repo.url })).status).toBe(200);
  const res = await api("POST", "/environments", { name: "quota", tier: "dev" });
  expect(res.status).toBe(202);
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

async function deploy(): Promise<DeploymentView> {
  const res = await api("POST", `/environments/${slug}/deployments`, {});
  expect(res.status).toBe(202);
  const out = (await res.json()) as DeployOutcome;
  if (out.dryRun) throw new Error("unexpected dry run");
  await host.waitJob(out.job.id, 300_000);
  return (await (await api("GET", `/deployments/${out.deployment.id}`)).json()) as DeploymentView;
}

async function hostConfig(container: string): Promise<{ NanoCpus: number; Memory: number }> {
  const r = await run({ argv: ["docker", "inspect", "-f", "{{json .HostConfig}}", container] });
  return JSON.parse(r.stdout) as { NanoCpus: number; Memory: number };
}

describe("resource quotas", () => {
  test("a deploy under a quota: the new release's container limits and odoo.conf workers are capped", async () => {
    expect(envRow()).toMatchObject({ workers: 2, cpus: "1", memoryMb: 1024 });
    await repo.commit({ ".odooops/policies.yaml": "resource_quotas:\n  dev: { workers: 1, cpu: 0.5, memory: 600m, storage: 10g }\n" });
    const d = await deploy();
    expect(d.error).toBeNull();
    expect(envRow()).toMatchObject({ workers: 1, cpus: "0.5", memoryMb: 600 });
    expect(await hostConfig(envRow().containerName!)).toMatchObject({ NanoCpus: 500_000_000, Memory: 600 * 1024 * 1024 });
    const conf = readFileSync(envResources(envRow(), host.deps).confFile, "utf8");
    expect(conf).toMatch(/^workers = 1$/m);
    const detail = (await (await api("GET", `/environments/${slug}`)).json()) as EnvDetail;
    expect(detail.storageQuota).toMatchObject({ quotaBytes: 10 * 1024 ** 3, exceeded: false });
    expect(detail.storageQuota.usedBytes).toBeGreaterThan(0);
  }, 300_000);

  test("env create: a request above the quota is refused and nothing is created; the tier's defaults are capped", async () => {
    const refused = await api("POST", "/environments", { name: "greedy", tier: "dev", workers: 4, memoryMb: 2048 });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe(
      "the dev tier's resource quota: workers 4 is above the quota of 1 (resource_quotas.dev.workers); memoryMb 2048 is above the quota of 600 (resource_quotas.dev.memory)",
    );
    expect(host.deps.db.select().from(environments).where(eq(environments.slug, "greedy")).get()).toBeUndefined();
    const nets = await run({ argv: ["docker", "network", "ls", "--quiet", "--filter", `name=^${host.config.docker.namePrefix}-greedy$`] });
    expect(nets.stdout.trim()).toBe("");

    const plan = await api("POST", "/environments", { name: "modest", tier: "dev", dryRun: true });
    expect(plan.status).toBe(200);
    expect(((await plan.json()) as { plan: { resources: Record<string, number> } }).plan.resources).toMatchObject({ workers: 1, cpus: 0.5, memoryMb: 600 });
    const within = await api("POST", "/environments", { name: "modest", tier: "dev", workers: 1, memoryMb: 512, dryRun: true });
    expect(((await within.json()) as { plan: { resources: Record<string, number> } }).plan.resources).toMatchObject({ workers: 1, memoryMb: 512 });
  }, 60_000);

  test("storage above the quota: the deploy fails before the build with a clear error; env get shows it; the old release serves", async () => {
    const before = envRow();
    await repo.commit({ ".odooops/policies.yaml": "resource_quotas:\n  dev: { workers: 1, cpu: 0.5, memory: 600m, storage: 1m }\n" });
    const d = await deploy();
    expect(d.status).toBe("failed");
    expect(d.error).toMatch(/^environment quota uses [\d.]+ MiB \(database [\d.]+ MiB \+ filestore [\d.]+ (KiB|MiB|B)\), above the dev storage quota of 1\.0 MiB \(resource_quotas\.dev\.storage\): new deploys are blocked until it uses less or the quota is raised$/);
    const job = host.deps.jobs.queue.view(d.jobId!);
    expect(job.steps.find((s) => s.name === "build")?.status).toBe("pending");
    expect(envRow()).toMatchObject({ release: before.release, containerName: before.containerName });
    expect((await host.viaNginx(before.domain, "/web/health?db_server_status=1")).status).toBe(200);
    const detail = (await (await api("GET", `/environments/${slug}`)).json()) as EnvDetail;
    expect(detail.storageQuota).toMatchObject({ quotaBytes: 1024 * 1024, exceeded: true });
  }, 300_000);
});
