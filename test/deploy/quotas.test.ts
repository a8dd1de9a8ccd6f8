/**
 * resource_quotas on a real host: a deploy of a commit whose policy has a quota caps the env's
 * container limits and odoo.conf workers; env create refuses a request above the quota (nothing
 * created) and caps the tier's defaults; storage above the quota blocks deploys and shows in
 * `env get`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { environments } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import type { EnvDetail } from "../../src/env/schema";
import { run } from "../../src/exec/run";
import { type DeployEnv, startDeployEnv } from "../support/deploy-env";

const manifest = `{'name': 'Shop extra', 'version': '1.0', 'depends': ['base']}\n`;

let t: DeployEnv;

beforeAll(async () => {
  t = await startDeployEnv({
    env: { name: "quota", tier: "dev" },
    files: { "shop_extra/__manifest__.py": manifest },
    configOverrides: {
      deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], runTests: false, rehearse: false },
      tiers: { dev: { workers: 2, cpus: 1, memoryMb: 1024 } },
    },
  });
}, 240_000);

afterAll(async () => {
  await t?.stop();
}, 120_000);

async function hostConfig(container: string): Promise<{ NanoCpus: number; Memory: number }> {
  const r = await run({ argv: ["docker", "inspect", "-f", "{{json .HostConfig}}", container] });
  return JSON.parse(r.stdout) as { NanoCpus: number; Memory: number };
}

describe("resource quotas", () => {
  test("a deploy under a quota: the new release's container limits and odoo.conf workers are capped", async () => {
    expect(t.envRow()).toMatchObject({ workers: 2, cpus: "1", memoryMb: 1024 });
    await t.repo.commit({
      ".odooops/policies.yaml": "resource_quotas:\n  dev: { workers: 1, cpu: 0.5, memory: 600m, storage: 10g }\n",
    });
    const { d } = await t.deploy();
    expect(d.error).toBeNull();
    expect(t.envRow()).toMatchObject({ workers: 1, cpus: "0.5", memoryMb: 600 });
    expect(await hostConfig(t.envRow().containerName!)).toMatchObject({
      NanoCpus: 500_000_000,
      Memory: 600 * 1024 * 1024,
    });
    const conf = readFileSync(envResources(t.envRow(), t.host.deps).confFile, "utf8");
    expect(conf).toMatch(/^workers = 1$/m);
    const detail = (await (await t.api("GET", `/environments/${t.slug}`)).json()) as EnvDetail;
    expect(detail.storageQuota).toMatchObject({ quotaBytes: 10 * 1024 ** 3, exceeded: false });
    expect(detail.storageQuota.usedBytes).toBeGreaterThan(0);
  }, 300_000);

  test("env create: a request above the quota is refused and nothing is created; the tier's defaults are capped", async () => {
    const refused = await t.api("POST", "/environments", { name: "greedy", tier: "dev", workers: 4, memoryMb: 2048 });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe(
      "the dev tier's resource quota: workers 4 is above the quota of 1 (resource_quotas.dev.workers); memoryMb 2048 is above the quota of 600 (resource_quotas.dev.memory)",
    );
    expect(t.host.deps.db.select().from(environments).where(eq(environments.slug, "greedy")).get()).toBeUndefined();
    const nets = await run({
      argv: ["docker", "network", "ls", "--quiet", "--filter", `name=^${t.host.config.docker.namePrefix}-greedy$`],
    });
    expect(nets.stdout.trim()).toBe("");

    const plan = await t.api("POST", "/environments", { name: "modest", tier: "dev", dryRun: true });
    expect(plan.status).toBe(200);
    expect(((await plan.json()) as { plan: { resources: Record<string, number> } }).plan.resources).toMatchObject({
      workers: 1,
      cpus: 0.5,
      memoryMb: 600,
    });
    const within = await t.api("POST", "/environments", {
      name: "modest",
      tier: "dev",
      workers: 1,
      memoryMb: 512,
      dryRun: true,
    });
    expect(((await within.json()) as { plan: { resources: Record<string, number> } }).plan.resources).toMatchObject({
      workers: 1,
      memoryMb: 512,
    });
  }, 60_000);

  test("storage above the quota: the deploy fails before the build with a clear error; env get shows it; the old release serves", async () => {
    const before = t.envRow();
    await t.repo.commit({
      ".odooops/policies.yaml": "resource_quotas:\n  dev: { workers: 1, cpu: 0.5, memory: 600m, storage: 1m }\n",
    });
    const { d } = await t.deploy();
    expect(d.status).toBe("failed");
    expect(d.error).toMatch(
      /^environment quota uses [\d.]+ MiB \(database [\d.]+ MiB \+ filestore [\d.]+ (KiB|MiB|B)\), above the dev storage quota of 1\.0 MiB \(resource_quotas\.dev\.storage\): new deploys are blocked until it uses less or the quota is raised$/,
    );
    const job = t.host.deps.jobs.queue.view(d.jobId!);
    expect(job.steps.find((s) => s.name === "build")?.status).toBe("pending");
    expect(t.envRow()).toMatchObject({ release: before.release, containerName: before.containerName });
    expect((await t.host.viaNginx(before.domain, "/web/health?db_server_status=1")).status).toBe(200);
    const detail = (await (await t.api("GET", `/environments/${t.slug}`)).json()) as EnvDetail;
    expect(detail.storageQuota).toMatchObject({ quotaBytes: 1024 * 1024, exceeded: true });
  }, 300_000);
});
