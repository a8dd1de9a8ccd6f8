/**
 * Health gates from `.odooops/policies.yaml` of the default branch (the deployed commits here are
 * its heads), on a real host (PostgreSQL,
 * dockerd, nginx, the Odoo stand-in): an invalid file fails before the build naming file:line:key;
 * a failing required gate (tests command, smoke tests) fails the deployment with the gate's
 * output and leaves the old release serving; an optional one only warns; manual approval waits
 * in state (approve, reject, timeout, an agent that dies while waiting).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { DeploymentView } from "../../src/deploy/schema";
import { Agent } from "../../src/jobs/agent";
import type { JobChannel } from "../../src/jobs/queue";
import { projectPolicy } from "../../src/policy/load";
import { type DeployEnv, shopManifest, startDeployEnv } from "../support/deploy-env";
import { webContainerNames } from "../support/docker";
import { until } from "../support/wait";

const py = (code: string) => JSON.stringify(["python3", "-c", code]);
const policy = (gates: string) => `version: 1\nhealth_gates:\n  dev:\n${gates}`;

let t: DeployEnv;

// One admin deploys and approves here (deploy.selfApproval): four eyes are tested in test/api/approvals.test.ts.
beforeAll(async () => {
  t = await startDeployEnv({
    agent: false,
    env: { name: "gated", tier: "dev" },
    files: { "shop_extra/__manifest__.py": shopManifest("1.0") },
    configOverrides: {
      deploy: {
        drainSec: 0,
        healthTimeoutSec: 60,
        install: ["shop_extra"],
        runTests: false,
        rehearse: false,
        selfApproval: true,
      },
    },
  });
}, 240_000);

afterAll(async () => {
  await t?.stop();
}, 120_000);

/** The old release still serves, through nginx, and is the env's current one. */
async function expectUnchanged(before: ReturnType<DeployEnv["envRow"]>): Promise<void> {
  expect(t.envRow()).toMatchObject({
    release: before.release,
    containerName: before.containerName,
    currentDeploymentId: before.currentDeploymentId,
  });
  expect((await t.host.viaNginx(before.domain, "/web/health?db_server_status=1")).status).toBe(200);
}

describe("policies.yaml of the default branch", () => {
  test("no file: the server default applies and is recorded; the deploy passes", async () => {
    const { d, job } = await t.deploy();
    expect(job.error).toBeNull();
    expect(d.gates).toMatchObject({
      source: "default",
      tier: "dev",
      tests: { run: false },
      approval: null,
      smoke: null,
    });
  }, 300_000);

  test("invalid YAML or an unknown key: the deploy fails before the build, naming file, line and key", async () => {
    const before = t.envRow();
    await t.repo.commit({
      ".odooops/policies.yaml": policy("    tests: { required: true }\n    smoke_test: { command: [true] }\n"),
    });
    const { d, job } = await t.deploy();
    expect(d.status).toBe("failed");
    expect(d.error).toContain(".odooops/policies.yaml:5: health_gates.dev.smoke_test");
    expect(job.steps.find((s) => s.name === "source")?.status).toBe("failed");
    expect(job.steps.find((s) => s.name === "build")?.status).toBe("pending");

    await t.repo.commit({ ".odooops/policies.yaml": "health_gates:\n  dev: [oops\n" });
    const broken = await t.deploy();
    expect(broken.d.error).toMatch(/invalid YAML in \.odooops\/policies\.yaml:\d+:/);
    await expectUnchanged(before);
  }, 300_000);

  test("a failing required tests command: failed with its output, old release serving; optional: a warning", async () => {
    const before = t.envRow();
    await t.repo.commit({
      ".odooops/policies.yaml": policy(
        `    tests: { command: ${py("import sys; print('gate says no: 2 partners'); sys.exit(3)")} }\n`,
      ),
    });
    const { d, job } = await t.deploy();
    expect(d.status).toBe("failed");
    expect(d.error).toContain("tests command failed (exit 3)");
    expect(d.error).toContain("gate says no: 2 partners");
    expect(job.steps.find((s) => s.name === "migrate")?.status).toBe("pending");
    await expectUnchanged(before);

    await t.repo.commit({
      ".odooops/policies.yaml": policy(`    tests: { required: false, command: ${py("import sys; sys.exit(3)")} }\n`),
    });
    const optional = await t.deploy();
    expect(optional.d.status).toBe("success");
    expect(await t.jobLog(optional.job.id)).toContain("warn: tests command failed (exit 3)");
  }, 600_000);

  test("the tests command runs in the built image against the throwaway database (PG* set, modules installed)", async () => {
    await t.repo.commit({
      ".odooops/policies.yaml": policy(
        `    tests: { command: ["psql", "-tAc", "SELECT 'tested:' || current_database() || ':' || state FROM ir_module_module WHERE name = 'shop_extra'"] }\n`,
      ),
    });
    const { d, job } = await t.deploy();
    expect(d.error).toBeNull();
    expect(d.status).toBe("success");
    const log = await t.jobLog(job.id);
    expect(log).toMatch(/tested:odooops_scratch_[0-9a-f]{10}:installed/);
  }, 300_000);

  test("smoke tests: run against the new release (ODOOOPS_URL) before the switch; a failure keeps the old release", async () => {
    const pass = py(
      "import os, urllib.request; r = urllib.request.urlopen(os.environ['ODOOOPS_URL'] + '/web/health'); print('smoke ok', os.environ['ODOOOPS_URL'], r.status)",
    );
    await t.repo.commit({ ".odooops/policies.yaml": policy(`    smoke_tests: { command: ${pass} }\n`) });
    const ok = await t.deploy();
    expect(ok.d.error).toBeNull();
    expect(ok.job.steps.map((s) => s.name)).toEqual([
      "source",
      "build",
      "plan",
      "tests",
      "approval",
      "rehearse",
      "backup",
      "migrate",
      "start",
      "smoke",
      "switch",
      "prune",
    ]);
    expect(ok.job.steps.find((s) => s.name === "smoke")?.status).toBe("done");
    expect(await t.jobLog(ok.job.id)).toContain(`smoke ok http://${t.envRow().containerName}:8069 200`);

    const before = t.envRow();
    await t.repo.commit({
      ".odooops/policies.yaml": policy(
        `    smoke_tests: { command: ${py("import sys; print('checkout page: 500'); sys.exit(1)")} }\n`,
      ),
    });
    const bad = await t.deploy();
    expect(bad.d.status).toBe("failed");
    expect(bad.d.error).toContain("smoke tests failed (exit 1)");
    expect(bad.d.error).toContain("checkout page: 500");
    await expectUnchanged(before);
    // The new release was removed by the undo; only releases kept for rollback remain.
    expect(await webContainerNames(t.envId, { all: true })).not.toContain(
      `${t.host.config.docker.namePrefix}-${t.slug}-r${bad.d.release}`,
    );
  }, 600_000);
});

describe("manual approval", () => {
  const approval = (timeout: string, required = true) =>
    policy(`    manual_approval: { required: ${required}, timeout: "${timeout}" }\n`);

  async function awaiting(id: string): Promise<DeploymentView> {
    return until("awaiting_approval", async () => {
      const d = await t.deployment(id);
      return d.status === "awaiting_approval" ? d : null;
    });
  }

  test("waits after the pre-switch gates, before any migration; approve (admin) → continues and serves", async () => {
    await t.repo.commit({
      ".odooops/policies.yaml": approval("1h"),
      "shop_extra/__manifest__.py": shopManifest("1.1"),
    });
    const out = await t.queueDeploy();
    const done = t.waitJob(out.job.id);
    const waiting = await awaiting(out.deployment.id);
    expect(waiting.approval?.decision).toBeNull();
    expect(Date.parse(waiting.approval!.deadline!) - Date.now()).toBeGreaterThan(3_500_000);
    const view = t.host.deps.jobs.queue.view(out.job.id);
    expect(view.steps.find((s) => s.name === "approval")?.status).toBe("running");
    expect(view.steps.find((s) => s.name === "migrate")?.status).toBe("pending");

    await t.host.deps.auth.createUser("dev1", "dev1-password-long", "member");
    const { token } = await t.host.deps.auth.login("dev1", "dev1-password-long");
    const forbidden = await t.api("POST", `/deployments/${out.deployment.id}/approve`, {}, token);
    expect(forbidden.status).toBe(403);

    const ok = await t.api("POST", `/deployments/${out.deployment.id}/approve`, { reason: "release notes checked" });
    expect(ok.status).toBe(200);
    const job = await done;
    expect(job.error).toBeNull();
    const d = await t.deployment(out.deployment.id);
    expect(d).toMatchObject({
      status: "success",
      current: true,
      approval: { decision: "approved", by: "admin", reason: "release notes checked" },
    });
    expect((await t.host.viaNginx(t.envRow().domain, "/web/health?db_server_status=1")).status).toBe(200);
    expect((await t.api("POST", `/deployments/${out.deployment.id}/approve`, {})).status).toBe(409);
  }, 300_000);

  test("reject → the deployment ends rejected with the reason; nothing migrated, old release serving", async () => {
    const before = t.envRow();
    await t.repo.commit({ "shop_extra/__manifest__.py": shopManifest("1.2") });
    const out = await t.queueDeploy();
    const done = t.waitJob(out.job.id);
    await awaiting(out.deployment.id);
    expect(
      (await t.api("POST", `/deployments/${out.deployment.id}/reject`, { reason: "not during the sale" })).status,
    ).toBe(200);
    const job = await done;
    expect(job.status).toBe("failed");
    const d = await t.deployment(out.deployment.id);
    expect(d.status).toBe("rejected");
    expect(d.error).toContain("rejected by admin: not during the sale");
    expect(d.migrated).toBe(false);
    await expectUnchanged(before);
  }, 300_000);

  test("cancelling the job while it waits ends the wait at once: cancelled, nothing migrated", async () => {
    const before = t.envRow();
    const out = await t.queueDeploy();
    const done = t.waitJob(out.job.id);
    await awaiting(out.deployment.id);
    expect((await t.api("POST", `/jobs/${out.job.id}/cancel`)).status).toBe(200);
    const job = await done;
    expect(job.status).toBe("cancelled");
    expect(await t.deployment(out.deployment.id)).toMatchObject({
      status: "cancelled",
      error: "deployment cancelled",
      migrated: false,
    });
    await expectUnchanged(before);
  }, 300_000);

  test("nobody decides before the timeout → rejected; an optional gate deploys anyway with a warning", async () => {
    const before = t.envRow();
    await t.repo.commit({ ".odooops/policies.yaml": approval("2s") });
    const { d } = await t.deploy();
    expect(d.status).toBe("rejected");
    expect(d.error).toContain("nobody approved within 2 s");
    expect(d.approval?.decision).toBe("timed_out");
    await expectUnchanged(before);

    await t.repo.commit({ ".odooops/policies.yaml": approval("1s", false) });
    const optional = await t.deploy();
    expect(optional.d.status).toBe("success");
    expect(await t.jobLog(optional.job.id)).toContain("warn: nobody approved within 1 s");
  }, 300_000);

  test("the agent dies while waiting: a new agent resumes the wait (same deadline) and the approval goes through", async () => {
    await t.repo.commit({
      ".odooops/policies.yaml": approval("1h"),
      "shop_extra/__manifest__.py": shopManifest("1.3"),
    });
    const out = await t.queueDeploy();
    const q = t.host.deps.jobs.queue;
    let dead = false;
    const never = new Promise<never>(() => undefined);
    const guard =
      <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
      (...a: A): Promise<R> =>
        dead ? never : fn(...a);
    const channel: JobChannel = {
      lease: guard((agent, ms) => q.lease(agent, ms)),
      heartbeat: guard((id, owner, ms) => q.heartbeat(id, owner, ms)),
      log: guard((id, owner, lines) => q.log(id, owner, lines)),
      step: guard((id, owner, i, patch) => q.step(id, owner, i, patch)),
      finish: guard((id, owner, outcome) => q.finish(id, owner, outcome)),
    };
    const doomed = new Agent({
      identity: { hostId: "test", owner: "test:doomed-approval" },
      channel,
      registry: t.host.deps.jobs.registry,
      deps: t.host.deps,
      pollMs: 20,
      leaseMs: 300,
      heartbeatMs: 100,
    });
    doomed.start();
    const first = await awaiting(out.deployment.id);
    dead = true;
    void doomed.stop(0);
    await until("the lease to expire", async () => q.row(out.job.id).leaseExpiresAt! < new Date().toISOString());
    expect(q.recover()).toBe(1);

    const done = t.waitJob(out.job.id);
    await until("the resumed wait", async () => (await t.jobLog(out.job.id)).includes("still waiting for approval"));
    expect((await t.deployment(out.deployment.id)).approval?.deadline).toBe(first.approval!.deadline);
    expect((await t.api("POST", `/deployments/${out.deployment.id}/approve`, {})).status).toBe(200);
    const job = await done;
    expect(job.error).toBeNull();
    expect(q.row(out.job.id).attempts).toBe(2);
    expect(await t.deployment(out.deployment.id)).toMatchObject({ status: "success", current: true });
  }, 300_000);

  test("the webhook's view of the policy is the last one a deploy read (from state, no git)", () => {
    expect(projectPolicy(t.host.deps.db, t.envRow().projectId).health_gates.dev?.manual_approval).toEqual({
      required: true,
      timeout: "1h",
    });
  });
});
