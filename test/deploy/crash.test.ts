/**
 * kill -9 during a deploy: the agent dies right after each step did its work (before that was
 * recorded); a new agent resumes the job, which ends with exactly one release running, nginx
 * serving it and the database updated.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { deployJob } from "../../src/deploy/deploy-job";
import type { DeployOutcome, DeploymentView } from "../../src/deploy/schema";
import { crashThenResume } from "../support/agents";
import { type DeployEnv, shopManifest, startDeployEnv } from "../support/deploy-env";
import { webContainerNames } from "../support/docker";

let t: DeployEnv;

beforeAll(async () => {
  t = await startDeployEnv({
    agent: false,
    env: { name: "crashy", tier: "dev" },
    files: { "shop_extra/__manifest__.py": shopManifest("1.0") },
    configOverrides: { deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], runTests: false } },
  });
}, 240_000);

afterAll(async () => {
  await t?.stop();
}, 120_000);

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
      await t.repo.commit({ "shop_extra/__manifest__.py": shopManifest(version) });
      const res = await t.api("POST", `/environments/${t.slug}/deployments`, {});
      expect(res.status).toBe(202);
      const out = (await res.json()) as DeployOutcome;
      if (out.dryRun) throw new Error("unexpected dry run");
      const job = await crashThenResume(t.host, out.job.id, names.indexOf(step));
      expect(job.error).toBeNull();
      expect(job.status).toBe("succeeded");
      const d = (await (await t.api("GET", `/deployments/${out.deployment.id}`)).json()) as DeploymentView;
      expect(d).toMatchObject({ status: "success", current: true });
      const env = t.envRow();
      expect(env.release).toBe(d.release);
      expect(await webContainerNames(t.envId)).toEqual([env.containerName!]);
      expect(await t.moduleVersion()).toBe(`17.0.${version}`);
      expect((await t.host.viaNginx(env.domain, "/web/health?db_server_status=1")).status).toBe(200);
    }, 300_000);
  });
});
