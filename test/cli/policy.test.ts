/** `odooops policy show|validate` and `deploy approve|reject` against an in-process API (no agent). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { deployments } from "../../src/deploy/deploy.sql";
import { environments, projects } from "../../src/env/env.sql";
import type { JobView } from "../../src/jobs/view";
import { policies } from "../../src/policy/policy.sql";
import type { EffectivePolicyView } from "../../src/policy/view";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";
import { makeTempDir, removeTempDir } from "../support/tmp";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let dir: string;
const cli = (argv: string[], token = t.token) =>
  runCliWith(argv, { fetch: t.fetch, env: { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: token } });
let envId = "";

beforeAll(async () => {
  t = await makeTestApi();
  dir = makeTempDir("odooops-policy-cli-");
  const res = await t.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name: "shop", tier: "production" }),
  });
  expect(res.status).toBe(202);
  const created = (await res.json()) as { job: JobView };
  expect((await t.request(`/api/v1/jobs/${created.job.id}/cancel`, { method: "POST" })).status).toBe(200);
  t.deps.db.update(environments).set({ status: "active", release: 1 }).where(eq(environments.slug, "shop")).run();
  envId = t.deps.db.select().from(environments).where(eq(environments.slug, "shop")).get()!.id;
});
afterAll(() => {
  t.cleanup();
  removeTempDir(dir);
});

describe("policy validate", () => {
  test("a valid file: exit 0", async () => {
    const file = join(dir, "ok.yaml");
    writeFileSync(file, "health_gates:\n  staging:\n    smoke_tests: { command: [python3, smoke.py] }\n");
    const r = await cli(["policy", "validate", "--file", file]);
    expect(r).toMatchObject({ code: 0, stdout: `${file}: valid\n` });
  });

  test("problems: exit 1 with every one as file:line: key: message", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      "version: 1\nhealth_gates:\n  staging:\n    smoke_test: {}\nresource_quotas:\n  dev: { memory: lots }\n",
    );
    const r = await cli(["policy", "validate", "--file", file]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([
      `${file}:4: health_gates.staging.smoke_test: Unrecognized key: "smoke_test"`,
      `${file}:6: resource_quotas.dev.memory: a size like "512m", "2g" or "20g"`,
    ]);
    const json = JSON.parse((await cli(["--json", "policy", "validate", "--file", file])).stdout) as {
      ok: boolean;
      problems: string[];
    };
    expect(json).toMatchObject({ ok: false });
    expect(json.problems).toHaveLength(2);
    expect((await cli(["policy", "validate", "--file", join(dir, "missing.yaml")])).code).toBe(2);
  });
});

describe("policy show", () => {
  test("no deploy has read a file: the server default", async () => {
    const r = await cli(["policy", "show"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("# project default: the server default");
    expect(r.stdout).toContain(
      "  production:\n    tests:\n      required: true\n    migrations:\n      required: true\n",
    );
    const json = JSON.parse((await cli(["--json", "policy", "show"])).stdout) as EffectivePolicyView;
    expect(json).toMatchObject({ project: "default", source: "default", commit: null, env: null });
  });

  test("the newest recorded file; --env: the gates, quota and TTL of its tier", async () => {
    const project = t.deps.db.select().from(projects).where(eq(projects.name, "default")).get()!;
    t.deps.db
      .insert(policies)
      .values({
        projectId: project.id,
        source: "repo",
        commitSha: "a".repeat(40),
        branch: "main",
        document:
          "health_gates:\n  production:\n    manual_approval: { timeout: 30m }\n    smoke_tests: { command: [python3, smoke.py] }\nresource_quotas:\n  production: { workers: 3, storage: 50g }\nttl_policies: { production: never }\n",
      })
      .run();
    const r = await cli(["policy", "show", "--env", "shop"]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")).toEqual([
      "# project default: .odooops/policies.yaml at aaaaaaaaaaaa",
      "env shop (tier production)",
      "  tests      required",
      "  migrations required rehearsal on a neutralized copy (skipped above deploy.rehearseMaxDbMb)",
      "  approval   required, timeout 1800 s",
      '  smoke      required: ["python3","smoke.py"]',
      "  quota      workers 3, storage 50g",
      expect.stringMatching(/^ {2}limits {5}workers \d+, cpus \d+, memory \d+ MiB$/),
      // Nothing measured here (no cluster, no filestore): said, not shown as a pass.
      "  storage    0 B of 50 GiB counted — database and filestore sizes not known: deploys are refused until it is measured",
      "  ttl        never",
      "",
    ]);
    const json = JSON.parse((await cli(["--json", "policy", "show", "--env", "shop"])).stdout) as EffectivePolicyView;
    expect(json.env?.gates).toMatchObject({
      source: "repo",
      approval: { required: true, timeoutSec: 1800 },
      smoke: { command: ["python3", "smoke.py"] },
    });
    expect((await cli(["policy", "show", "--project", "nope"])).code).toBe(4);
    expect((await cli(["policy", "show", "--env", "nope"])).code).toBe(4);
  });
});

describe("env create under the quota", () => {
  test("--workers above the recorded policy's quota is a usage error and creates nothing; a bad number too", async () => {
    const over = await cli(["env", "create", "big", "--tier", "production", "--workers", "5", "--memory-mb", "2048"]);
    expect(over.code).toBe(2);
    expect(over.stderr).toContain(
      "the production tier's resource quota: workers 5 is above the quota of 3 (resource_quotas.production.workers)",
    );
    expect(t.deps.db.select().from(environments).where(eq(environments.slug, "big")).get()).toBeUndefined();
    const nan = await cli(["env", "create", "big", "--tier", "production", "--cpus", "lots"]);
    expect(nan.code).toBe(2);
    expect(nan.stderr).toContain('--cpus must be a number, not "lots"');
  });
});

describe("deploy approve|reject", () => {
  const waiting = () =>
    t.deps.db
      .insert(deployments)
      .values({
        envId,
        release: 2,
        status: "awaiting_approval",
        approvalDeadline: new Date(Date.now() + 3_600_000).toISOString(),
      })
      .returning()
      .get().id;

  test("admins decide; members may not; a decided or running deployment is a conflict", async () => {
    const id = waiting();
    await t.deps.auth.createUser("dev1", "dev1-password-long", "member");
    const { token } = await t.deps.auth.login("dev1", "dev1-password-long");
    const denied = await cli(["deploy", "approve", id], token);
    expect(denied.code).toBe(3);
    expect(denied.stderr).toContain("only admin users may approve deployments; dev1 is member");

    const ok = await cli(["deploy", "approve", id, "--reason", "checked"]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain(`deployment ${id} approved`);
    expect(t.deps.db.select().from(deployments).where(eq(deployments.id, id)).get()).toMatchObject({
      approvalDecision: "approved",
      approvalBy: "admin",
      approvalReason: "checked",
    });
    const again = await cli(["deploy", "reject", id]);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain(
      "(approved by admin): only a deployment awaiting approval can be approved or rejected",
    );

    const other = waiting();
    const rejected = JSON.parse((await cli(["--json", "deploy", "reject", other, "--reason", "freeze"])).stdout) as {
      approval: { decision: string; reason: string };
    };
    expect(rejected.approval).toMatchObject({ decision: "rejected", reason: "freeze" });
    expect((await cli(["deploy", "approve"])).code).toBe(2);
  });
});
