/**
 * Policy comes from the default branch, never from the commit being deployed, on a real host
 * (PostgreSQL, dockerd, nginx, the Odoo stand-in, a real git repository and the real webhook
 * route): a branch named `prod` whose commit maps `**` to production, drops production's approval
 * and lifts its quota neither reaches env `prod` nor changes the project's policy; production's
 * approval comes before the rehearsal runs the new code on a copy of its data.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { deployments } from "../../src/deploy/deploy.sql";
import type { DeploymentView } from "../../src/deploy/schema";
import { signBody } from "../../src/github/signature";
import { projectPolicy } from "../../src/policy/load";
import { policies } from "../../src/policy/policy.sql";
import { type DeployEnv, shopManifest, startDeployEnv } from "../support/deploy-env";
import { until } from "../support/wait";

const SECRET = `policy-trust-secret-${crypto.randomUUID()}`;
const PUSH = JSON.parse(
  readFileSync(
    join(
      import.meta.dir,
      "..",
      "..",
      "..",
      "shared",
      "fixtures",
      "github-webhooks",
      "push",
      "with-new-branch.payload.json",
    ),
    "utf8",
  ),
) as Record<string, unknown>;
const MAIN_POLICY = [
  "branch_mappings:",
  "  - { pattern: main, tier: staging, env: staging, auto_deploy: true }",
  "health_gates:",
  "  production:",
  "    migrations: { required: true }",
  '    manual_approval: { required: true, timeout: "1h" }',
  "resource_quotas:",
  "  production: { workers: 1, storage: 50g }",
  "",
].join("\n");
const EVIL_POLICY = [
  "branch_mappings:",
  "  - { pattern: '**', tier: production, env: '{branch}', auto_deploy: true, create: true }",
  "health_gates:",
  "  production: {}",
  "resource_quotas: {}",
  "",
].join("\n");

let t: DeployEnv;

beforeAll(async () => {
  t = await startDeployEnv({
    env: { name: "prod", tier: "production" },
    files: { "shop_extra/__manifest__.py": shopManifest("1.0"), ".odooops/policies.yaml": MAIN_POLICY },
    configOverrides: {
      deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], runTests: false, rehearse: false },
      tiers: { production: { cpus: 1, memoryMb: 1024, workers: 2 } },
    },
  });
  expect((await t.api("PUT", "/projects/default", { webhookSecret: SECRET })).status).toBe(200);
}, 240_000);

afterAll(async () => {
  await t?.stop();
}, 120_000);

/** The deployment once it waits for approval or has ended, whichever comes first. */
const settled = (id: string) =>
  until(
    `deployment ${id} to wait or end`,
    async () => {
      const d = await t.deployment(id);
      return ["awaiting_approval", "success", "failed", "rejected"].includes(d.status) ? d : null;
    },
    240_000,
  );

async function rejectAndWait(d: DeploymentView, jobId: string): Promise<void> {
  expect((await t.api("POST", `/deployments/${d.id}/reject`, { reason: "test" })).status).toBe(200);
  await t.waitJob(jobId);
}

describe("production under the default branch's policy", () => {
  test("attack (M1): the approval comes before the rehearsal runs the new code on a copy of production's data", async () => {
    await t.repo.commit({ "shop_extra/__manifest__.py": shopManifest("1.1") });
    const out = await t.queueDeploy();
    const d = await settled(out.deployment.id);
    const steps = Object.fromEntries(t.host.deps.jobs.queue.view(out.job.id).steps.map((s) => [s.name, s.status]));
    const copiedBefore = t.jobLog(out.job.id).includes("copied");
    // Decided whatever the assertions say: a wait left open would hold the env's lock for the next test.
    if (d.status === "awaiting_approval") await rejectAndWait(d, out.job.id);
    expect(d.status).toBe("awaiting_approval");
    expect(steps).toMatchObject({ approval: "running", rehearse: "pending", migrate: "pending" });
    expect(copiedBefore).toBe(false);
    expect(t.jobLog(out.job.id)).not.toContain("copied");
  }, 600_000);

  test("attack (H2): branch prod with a commit mapping ** to production, no approval and no quota changes nothing", async () => {
    await t.repo.git("checkout", "--quiet", "-b", "prod");
    const evil = await t.repo.commit({
      ".odooops/policies.yaml": EVIL_POLICY,
      "shop_extra/__manifest__.py": shopManifest("6.6"),
    });
    await t.repo.git("checkout", "--quiet", "main");
    const mainHead = await t.repo.git("rev-parse", "main");

    // Someone deploys the branch by hand: its commit's file must neither skip production's approval nor become the policy.
    const byHand = await t.queueDeploy({ branch: "prod" });
    const d = await settled(byHand.deployment.id);
    if (d.status === "awaiting_approval") await rejectAndWait(d, byHand.job.id);

    // Then the branch is pushed: the webhook maps it with the project's policy (the default branch's).
    const payload = new TextEncoder().encode(
      JSON.stringify({
        ...PUSH,
        ref: "refs/heads/prod",
        after: evil,
        repository: { ...(PUSH.repository as object), pushed_at: Math.floor(Date.now() / 1000) },
      }),
    );
    const res = await t.host.api.app.request("/api/v1/webhooks/github?project=default", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": crypto.randomUUID(),
        "x-hub-signature-256": signBody(SECRET, payload),
      },
      body: payload,
    });
    const pushed = (await res.json()) as { result: string; reason?: string };

    const deployed = t.host.deps.db.select().from(deployments).where(eq(deployments.envId, t.envId)).all();
    const rows = t.host.deps.db.select().from(policies).all();
    const policy = projectPolicy(t.host.deps.db, t.envRow().projectId);
    const shown = (await (await t.api("GET", "/policy?env=prod")).json()) as {
      commit: string;
      env: { gates: { approval: unknown } };
    };
    // Every consequence at once, so a failure shows the whole attack.
    expect({
      handDeploy: { status: d.status, approval: d.gates?.approval ?? null },
      push: { status: res.status, result: pushed.result, reason: pushed.reason ?? null },
      evilDeployments: deployed.filter((x) => x.commitSha === evil).map((x) => [x.createdBy, x.status]),
      evilPolicyRecorded: rows.some((r) => r.document === EVIL_POLICY),
      latestRow: rows.at(-1) && {
        source: rows.at(-1)!.source,
        branch: rows.at(-1)!.branch ?? null,
        commitSha: rows.at(-1)!.commitSha,
        document: rows.at(-1)!.document,
      },
      inForce: {
        approval: policy.health_gates.production?.manual_approval ?? null,
        quota: policy.resource_quotas.production ?? null,
        patterns: policy.branch_mappings.map((m) => m.pattern),
      },
      shown: { commit: shown.commit, approval: shown.env.gates.approval },
      tier: t.envRow().tier,
    }).toEqual({
      handDeploy: { status: "awaiting_approval", approval: { required: true, timeoutSec: 3600 } },
      push: { status: 200, result: "ignored", reason: "no branch mapping matches prod" },
      evilDeployments: [["admin", "rejected"]],
      evilPolicyRecorded: false,
      latestRow: { source: "repo", branch: "main", commitSha: mainHead, document: MAIN_POLICY },
      inForce: {
        approval: { required: true, timeout: "1h" },
        quota: { workers: 1, storage: "50g" },
        patterns: ["main"],
      },
      shown: { commit: mainHead, approval: { required: true, timeoutSec: 3600 } },
      tier: "production",
    });
  }, 600_000);
});
