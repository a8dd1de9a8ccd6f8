/**
 * A repository's first deployment installs its modules (policy `install_modules`, default `all`
 * installable ones), a cancelled deployment is listed as `cancelled`, and a tier whose policy has
 * no migrations gate is not shown as having a required one. For real: PostgreSQL, dockerd, nginx,
 * the stand-in, a git repository, the API and the job agent.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { describeGates } from "../../src/deploy/describe";
import { repoModulesToInstall } from "../../src/deploy/modules";
import type { DeploymentView } from "../../src/deploy/schema";
import { DEFAULT_POLICY } from "../../src/policy/defaults";
import { planGates } from "../../src/policy/gates";
import { parsePolicy } from "../../src/policy/schema";
import { shopManifest, startDeployEnv, type DeployEnv } from "../support/deploy-env";

const mods = [
  { name: "shop_report", installable: true },
  { name: "shop_extra", installable: true },
  { name: "shop_legacy", installable: false },
];

describe("which repository modules a deployment installs", () => {
  test("all (default): installable ones on the first deployment only; none; a list always", () => {
    expect(parsePolicy("# nothing\n").install_modules).toBe("all");
    expect(parsePolicy("install_modules: none\n").install_modules).toBe("none");
    expect(parsePolicy("install_modules: [shop_extra]\n").install_modules).toEqual(["shop_extra"]);
    expect(() => parsePolicy("install_modules: some\n")).toThrow("install_modules");
    expect(() => parsePolicy("install_modules: ['x;rm']\n")).toThrow("install_modules");
    expect(repoModulesToInstall("all", mods, true)).toEqual(["shop_extra", "shop_report"]);
    expect(repoModulesToInstall("all", mods, false)).toEqual([]);
    expect(repoModulesToInstall("none", mods, true)).toEqual([]);
    expect(repoModulesToInstall(["shop_report"], mods, false)).toEqual(["shop_report"]);
  });

  test("dev without a policy gate: the rehearsal is the host setting, not a required migrations gate", () => {
    const settings = { runTests: false, rehearse: true };
    expect(describeGates(planGates(DEFAULT_POLICY, "dev", settings, "default"))).toBe(
      "tests off, rehearsal (deploy.rehearse, no policy gate), no approval, no smoke tests",
    );
    expect(describeGates(planGates(DEFAULT_POLICY, "staging", settings, "default"))).toBe(
      "tests required, migrations required, no approval, no smoke tests",
    );
    expect(describeGates(planGates(DEFAULT_POLICY, "production", settings, "default"))).toBe(
      "tests required, migrations required (neutralized copy), no approval, no smoke tests",
    );
    expect(describeGates(planGates(DEFAULT_POLICY, "dev", { runTests: false, rehearse: false }, "default"))).toBe(
      "tests off, migrations off, no approval, no smoke tests",
    );
    const optional = parsePolicy("health_gates:\n  dev:\n    migrations: { required: false }\n");
    expect(describeGates(planGates(optional, "dev", settings, "repo"))).toBe(
      "tests off, migrations optional, no approval, no smoke tests",
    );
  });
});

let t: DeployEnv;
beforeAll(async () => {
  t = await startDeployEnv({
    env: { name: "first", tier: "dev" },
    files: {
      "shop_extra/__manifest__.py": shopManifest("1.0"),
      "shop_report/__manifest__.py": "{'name': 'Shop report', 'version': '1.0', 'depends': ['shop_extra']}\n",
      "shop_legacy/__manifest__.py": "{'name': 'Legacy', 'version': '1.0', 'installable': False}\n",
    },
    // No deploy.install: the repository's modules come from the policy's default.
    configOverrides: { deploy: { drainSec: 0, healthTimeoutSec: 60, runTests: false, rehearse: false } },
  });
}, 240_000);
afterAll(async () => {
  await t?.stop();
}, 120_000);

describe("deployments on a real host", () => {
  test("the first deployment installs the repository's installable modules", async () => {
    const { d, job } = await t.deploy();
    expect(job.error).toBeNull();
    expect(d.status).toBe("success");
    expect(t.jobLog(job.id)).toContain("install shop_extra, shop_report");
    expect(await t.moduleVersion("shop_extra")).toBe("17.0.1.0");
    expect(await t.moduleVersion("shop_report")).toBe("17.0.1.0");
    expect(await t.moduleVersion("shop_legacy")).toBeUndefined();
  }, 300_000);

  test("a later deployment does not install a module added to the repository (policy all: first deployment only)", async () => {
    await t.repo.commit({ "shop_new/__manifest__.py": "{'name': 'New', 'version': '1.0'}\n" });
    const { d, job } = await t.deploy();
    expect(job.error).toBeNull();
    expect(d.status).toBe("success");
    expect(await t.moduleVersion("shop_new")).toBeUndefined();
  }, 300_000);

  test("a deployment cancelled while running is listed as cancelled, not failed", async () => {
    // A tests gate whose test sleeps: the job is surely running a step when the cancel arrives.
    await t.repo.commit({
      "shop_extra/__manifest__.py": shopManifest("1.1"),
      "shop_extra/tests/test_slow.py": "import time\ntime.sleep(600)\n",
      ".odooops/policies.yaml": "version: 1\nhealth_gates:\n  dev:\n    tests: { required: true }\n",
    });
    const out = await t.queueDeploy();
    const testsRunning = () =>
      t.host.deps.jobs.queue.view(out.job.id).steps.find((s) => s.name === "tests")?.status === "running";
    for (let i = 0; i < 1200 && !testsRunning(); i++) await Bun.sleep(100);
    expect(testsRunning()).toBe(true);
    expect((await t.api("POST", `/jobs/${out.job.id}/cancel`)).status).toBe(200);
    const job = await t.waitJob(out.job.id);
    await t.repo.commit({ "shop_extra/tests/test_slow.py": null, ".odooops/policies.yaml": null });
    expect(job.status).toBe("cancelled");
    const d = await t.deployment(out.deployment.id);
    expect(d.status).toBe("cancelled");
    expect(d.error).toBe("deployment cancelled");
  }, 300_000);

  test("a deployment cancelled while queued is listed as cancelled too", async () => {
    // One job per env at a time: the second waits behind the first, still queued when cancelled.
    const first = await t.queueDeploy();
    const second = await t.queueDeploy();
    expect((await t.api("POST", `/jobs/${second.job.id}/cancel`)).status).toBe(200);
    expect((await t.waitJob(first.job.id)).error).toBeNull();
    expect((await t.waitJob(second.job.id)).status).toBe("cancelled");
    const list = (await (await t.api("GET", `/environments/${t.slug}/deployments`)).json()) as DeploymentView[];
    expect(list.find((d) => d.id === second.deployment.id)?.status).toBe("cancelled");
    expect(list.find((d) => d.id === first.deployment.id)?.status).toBe("success");
  }, 300_000);
});
