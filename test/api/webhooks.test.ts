/**
 * `POST /api/v1/webhooks/github` with the real fixture payloads, signed here with the project's
 * secret, through the in-process API (no agent: queued deploy jobs stay queued).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import { auditLogs } from "../../src/audit/audit.sql";
import { deployments } from "../../src/deploy/deploy.sql";
import { environments, projects } from "../../src/env/env.sql";
import { githubDeliveries } from "../../src/github/github.sql";
import { signBody } from "../../src/github/signature";
import { Agent } from "../../src/jobs/agent";
import { jobs } from "../../src/jobs/jobs.sql";
import type { JobView } from "../../src/jobs/view";
import { policies } from "../../src/policy/policy.sql";
import { makeTestApi } from "../support/api";
import { runCliOn } from "../support/cli";

const FIXTURES = join(import.meta.dir, "..", "..", "..", "shared", "fixtures", "github-webhooks");
const fixture = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)));
const BRANCH_PUSH = "push/with-new-branch.payload.json";
const BRANCH_SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const SECRET = `hello-world-secret-${crypto.randomUUID()}`;
const OCTO_SECRET = `octocoders-secret-${crypto.randomUUID()}`;

let t: Awaited<ReturnType<typeof makeTestApi>>;
const cli = (...argv: string[]) => runCliOn(t, argv);

let pushedAt = 1_700_000_000;
/** A later push to `ref`: a new head commit and a newer `pushed_at` (the same push again is a replay). */
function laterPush(ref = "refs/heads/master"): Uint8Array {
  return variant(BRANCH_PUSH, (p) => {
    p.ref = ref;
    p.after = Bun.hash(crypto.randomUUID()).toString(16).padStart(16, "0").repeat(3).slice(0, 40);
    (p.repository as { pushed_at: number }).pushed_at = ++pushedAt;
  });
}

function variant(name: string, change: (payload: Record<string, unknown>) => void): Uint8Array {
  const payload = JSON.parse(new TextDecoder().decode(fixture(name))) as Record<string, unknown>;
  change(payload);
  return new TextEncoder().encode(JSON.stringify(payload));
}

function deliver(
  body: Uint8Array,
  opts: { event?: string; delivery?: string | null; signature?: string | null; secret?: string; query?: string } = {},
) {
  const headers = new Headers({
    "content-type": "application/json",
    "x-github-event": opts.event ?? "push",
    "user-agent": "GitHub-Hookshot/test",
  });
  const delivery = opts.delivery === undefined ? crypto.randomUUID() : opts.delivery;
  if (delivery !== null) headers.set("x-github-delivery", delivery);
  const signature = opts.signature === undefined ? signBody(opts.secret ?? SECRET, body) : opts.signature;
  if (signature !== null) headers.set("x-hub-signature-256", signature);
  return t.app.request(`/api/v1/webhooks/github${opts.query ?? ""}`, { method: "POST", headers, body });
}

let envId = "";
const deploymentCount = () => t.deps.db.select().from(deployments).where(eq(deployments.envId, envId)).all().length;
const deployJobs = () => t.deps.db.select().from(jobs).where(eq(jobs.kind, "deploy")).all().length;
const denials = () =>
  t.deps.db
    .select()
    .from(auditLogs)
    .where(and(eq(auditLogs.action, "webhook.github"), eq(auditLogs.outcome, "denied")))
    .all();

async function makeActiveEnv(name: string, tier: string, branch?: string) {
  const res = await t.request("/api/v1/environments", { method: "POST", body: JSON.stringify({ name, tier, branch }) });
  expect(res.status).toBe(202);
  // The create job never runs here (no agent): it is cancelled and the env made active by hand.
  const created = (await res.json()) as { job: JobView };
  expect((await t.request(`/api/v1/jobs/${created.job.id}/cancel`, { method: "POST" })).status).toBe(200);
  t.deps.db.update(environments).set({ status: "active", release: 1 }).where(eq(environments.name, name)).run();
  return t.deps.db.select().from(environments).where(eq(environments.name, name)).get()!.id;
}

beforeAll(async () => {
  t = await makeTestApi();
  const secretFile = join(t.root, "webhook-secret");
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const set = await cli(
    "project",
    "set",
    "default",
    "--repo",
    "https://github.com/Codertocat/Hello-World.git",
    "--webhook-secret-file",
    secretFile,
  );
  expect(set.code).toBe(0);
  const octo = await t.request("/api/v1/projects/octo", {
    method: "PUT",
    body: JSON.stringify({ repoUrl: "git@github.com:Octocoders/Hello-World.git", webhookSecret: OCTO_SECRET }),
  });
  expect(octo.status).toBe(200);
  const project = t.deps.db.select().from(projects).where(eq(projects.name, "default")).get()!;
  t.deps.db
    .insert(policies)
    .values({
      projectId: project.id,
      source: "repo",
      commitSha: "0".repeat(40),
      branch: "main",
      document: [
        "branch_mappings:",
        "  - { pattern: master, tier: staging, env: 'qa-{branch}', auto_deploy: true }",
        "  - { pattern: 'manual/*', tier: dev, auto_deploy: false }",
        "  - { pattern: 'auto/*', tier: dev, env: 'auto-{branch}', auto_deploy: true }",
        "  - { pattern: 'create/*', tier: dev, env: 'c-{branch}', auto_deploy: false, create: true }",
        "  - { pattern: 'both/*', tier: dev, env: 'b-{branch}', auto_deploy: true, create: true }",
        "  - { pattern: 'rel-*', tier: dev, env: '{branch}', auto_deploy: true }",
      ].join("\n"),
    })
    .run();
  envId = await makeActiveEnv("qa-master", "staging", "master");
});
afterAll(() => t.cleanup());

describe("project webhook secret", () => {
  test("is stored sealed, shown only as set, and refused when short", async () => {
    const row = t.deps.db.select().from(projects).where(eq(projects.name, "default")).get()!;
    expect(row.webhookSecretEnc).toStartWith("v1:");
    expect(row.webhookSecretEnc).not.toContain(SECRET);
    expect(t.deps.box.open(row.webhookSecretEnc!)).toBe(SECRET);
    const list = JSON.parse((await cli("project", "list", "--json")).stdout) as {
      name: string;
      webhookSecretSet: boolean;
    }[];
    expect(list.map((p) => [p.name, p.webhookSecretSet])).toEqual([
      ["default", true],
      ["octo", true],
    ]);
    expect(JSON.stringify(list)).not.toContain(SECRET);
    const short = join(t.root, "short-secret");
    writeFileSync(short, "abc\n");
    const bad = await cli("project", "set", "octo", "--webhook-secret-file", short);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("webhook secret must be 16 to 256");
    const missing = await cli("project", "set", "octo", "--webhook-secret-file", join(t.root, "nope"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("ENOENT");
  });
});

describe("POST /webhooks/github", () => {
  test("ping is answered for the project matched by its ssh repository URL, and by ?project=", async () => {
    const ping = fixture("ping/payload.json");
    const res = await deliver(ping, { event: "ping", secret: OCTO_SECRET });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ result: "pong" });
    const byQuery = await deliver(ping, { event: "ping", query: "?project=default" });
    expect(byQuery.status).toBe(200);
    expect((await byQuery.json()) as { result: string }).toMatchObject({ result: "pong" });
  });

  test("a push to a mapped branch queues a deployment of the pushed commit, once per delivery", async () => {
    const before = { deployments: deploymentCount(), jobs: deployJobs() };
    const delivery = crypto.randomUUID();
    const res = await deliver(fixture(BRANCH_PUSH), { delivery });
    expect(res.status).toBe(202);
    const body = (await res.json()) as {
      result: string;
      env: string;
      deployment: string;
      job: string;
      delivery: string;
    };
    expect(body).toMatchObject({ result: "queued", env: "qa-master", delivery });
    const d = t.deps.db.select().from(deployments).where(eq(deployments.id, body.deployment)).get()!;
    expect([d.envId, d.commitSha, d.branch, d.jobId, d.createdBy]).toEqual([
      envId,
      BRANCH_SHA,
      "master",
      body.job,
      "github-webhook",
    ]);
    const job = t.deps.db.select().from(jobs).where(eq(jobs.id, body.job)).get()!;
    expect([job.kind, job.status]).toEqual(["deploy", "queued"]);
    expect(deploymentCount()).toBe(before.deployments + 1);

    const again = await deliver(fixture(BRANCH_PUSH), { delivery });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ result: "duplicate", delivery });
    expect(deploymentCount()).toBe(before.deployments + 1);
    expect(deployJobs()).toBe(before.jobs + 1);
    const recorded = t.deps.db.select().from(githubDeliveries).where(eq(githubDeliveries.deliveryId, delivery)).get()!;
    expect(recorded.outcome).toBe(`queued deployment ${body.deployment} on qa-master`);
  });

  test("missing, wrong-secret and tampered signatures are 401, audited, and queue nothing", async () => {
    const before = { deployments: deploymentCount(), jobs: deployJobs(), denials: denials().length };
    const body = fixture(BRANCH_PUSH);
    const tampered = variant(BRANCH_PUSH, (p) => {
      p.after = "1".repeat(40);
    });
    const cases = [
      await deliver(body, { signature: null }),
      await deliver(body, { secret: OCTO_SECRET }),
      await deliver(body, { signature: "sha256=" + "0".repeat(64) }),
      await deliver(body, { signature: "sha1=" + "0".repeat(40) }),
      await deliver(tampered, { signature: signBody(SECRET, body) }),
      await deliver(body, { query: "?project=octo" }),
      await deliver(body, { query: "?project=nosuch" }),
    ];
    for (const res of cases) {
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    }
    expect(deploymentCount()).toBe(before.deployments);
    expect(deployJobs()).toBe(before.jobs);
    const audited = denials();
    expect(audited.length).toBe(before.denials + cases.length);
    const reasons = audited.map((a) => String(a.details?.reason));
    expect(reasons.some((r) => r.includes("missing X-Hub-Signature-256"))).toBe(true);
    expect(reasons.some((r) => r.includes("does not match"))).toBe(true);
  });

  test("attack: a bad signature on a body that is not JSON is refused as a signature failure, before the body is parsed", async () => {
    const before = denials().length;
    const garbage = new TextEncoder().encode(
      '{"repository": {"clone_url": "https://github.com/Codertocat/Hello-World.git"}, oops',
    );
    const res = await deliver(garbage, { signature: "sha256=" + "ab".repeat(32) });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
      "X-Hub-Signature-256 does not match",
    );
    expect(
      denials()
        .slice(before)
        .map((a) => String(a.details?.reason)),
    ).toEqual(["X-Hub-Signature-256 does not match the webhook secret of any project"]);
    // Signed with the project's secret, the same bytes are then parsed and refused as not JSON.
    const signed = await deliver(garbage);
    expect(signed.status).toBe(400);
    expect(((await signed.json()) as { error: { message: string } }).error.message).toBe("webhook body is not JSON");
  });

  test("attack: an older push replayed under a fresh delivery id deploys nothing", async () => {
    const older = laterPush();
    const newer = laterPush();
    const first = await deliver(older);
    expect(first.status).toBe(202);
    expect((await deliver(newer)).status).toBe(202);
    const before = { deployments: deploymentCount(), jobs: deployJobs() };
    const olderSha = (JSON.parse(new TextDecoder().decode(older)) as { after: string }).after;
    for (const replayed of [older, newer]) {
      const res = await deliver(replayed, { delivery: crypto.randomUUID() });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { result: string; reason: string };
      expect(body.result).toBe("ignored");
      expect(body.reason).toContain("a replayed push is not acted on");
    }
    // Never pushed before, but older than the branch's newest push: a captured delivery replayed late.
    const stale = variant(BRANCH_PUSH, (p) => {
      p.after = "c".repeat(40);
      (p.repository as { pushed_at: number }).pushed_at = 1_600_000_000;
    });
    expect(await (await deliver(stale)).json()).toMatchObject({ result: "ignored" });
    expect(deploymentCount()).toBe(before.deployments);
    expect(deployJobs()).toBe(before.jobs);
    expect(
      t.deps.db
        .select()
        .from(deployments)
        .where(and(eq(deployments.envId, envId), eq(deployments.commitSha, olderSha)))
        .all(),
    ).toHaveLength(1);
  });

  test("a rule never deploys to an existing env of another tier or another branch", async () => {
    await makeActiveEnv("rel-prod", "production", "rel-prod");
    await makeActiveEnv("rel-other", "dev");
    const before = deployJobs();
    const wrongTier = (await (await deliver(laterPush("refs/heads/rel-prod"))).json()) as {
      result: string;
      reason: string;
    };
    expect(wrongTier).toMatchObject({
      result: "ignored",
      reason: "environment rel-prod is production but branch mapping 5 (rel-*) is for dev: not deployed",
    });
    // No branch of its own: the env follows the project's default branch.
    const wrongBranch = (await (await deliver(laterPush("refs/heads/rel-other"))).json()) as {
      result: string;
      reason: string;
    };
    expect(wrongBranch).toMatchObject({
      result: "ignored",
      reason:
        "environment rel-other follows branch main, not rel-other: branch mapping 5 (rel-*) does not deploy to it",
    });
    expect(deployJobs()).toBe(before);
  });

  test("a repository no project has is 401 with what to do", async () => {
    const stranger = variant(BRANCH_PUSH, (p) => {
      p.repository = { clone_url: "https://github.com/someone/else.git", ssh_url: "git@github.com:someone/else.git" };
    });
    const res = await deliver(stranger);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("?project=");
  });

  test("tag pushes, tag deletions and branch deletions never deploy", async () => {
    const before = deploymentCount();
    const tagDelete = await deliver(fixture("push/payload.json"));
    expect(tagDelete.status).toBe(200);
    expect(await tagDelete.json()).toMatchObject({ result: "ignored", reason: "refs/tags/simple-tag is not a branch" });
    const tagDelete2 = await deliver(fixture("push/1.payload.json"));
    expect(tagDelete2.status).toBe(200);
    expect(await tagDelete2.json()).toMatchObject({ result: "ignored" });
    const tagPush = variant(BRANCH_PUSH, (p) => {
      p.ref = "refs/tags/v1.0";
    });
    expect(await (await deliver(tagPush)).json()).toMatchObject({
      result: "ignored",
      reason: "refs/tags/v1.0 is not a branch",
    });
    const branchDelete = variant(BRANCH_PUSH, (p) => {
      p.after = "0".repeat(40);
      p.deleted = true;
      p.created = false;
    });
    expect(await (await deliver(branchDelete)).json()).toMatchObject({
      result: "ignored",
      reason: "branch master was deleted",
    });
    expect(deploymentCount()).toBe(before);
  });

  test("unmapped branches, auto_deploy off and missing environments are recorded, not deployed", async () => {
    const before = deployJobs();
    const push = (ref: string) =>
      variant(BRANCH_PUSH, (p) => {
        p.ref = ref;
      });
    expect(await (await deliver(push("refs/heads/develop"))).json()).toMatchObject({
      result: "ignored",
      reason: "no branch mapping matches develop",
    });
    expect(await (await deliver(push("refs/heads/manual/x"))).json()).toMatchObject({
      result: "ignored",
      reason: "branch mapping 1 (manual/*) has auto_deploy off",
    });
    expect(await (await deliver(push("refs/heads/auto/x"))).json()).toMatchObject({
      result: "ignored",
      reason: "no environment auto-auto/x (see: odooops env list)",
    });
    // `master-2` must not fall into the `master` rule (real glob, not a prefix match).
    expect(await (await deliver(push("refs/heads/master-2"))).json()).toMatchObject({
      result: "ignored",
      reason: "no branch mapping matches master-2",
    });
    t.deps.db.update(environments).set({ status: "stopped" }).where(eq(environments.id, envId)).run();
    const stopped = (await (await deliver(laterPush())).json()) as { result: string; reason: string };
    t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.id, envId)).run();
    expect(stopped.result).toBe("ignored");
    expect(stopped.reason).toContain("needs an active environment");
    expect(deployJobs()).toBe(before);
  });

  test("missing delivery id is 400; an oversized body is 413; neither queues anything", async () => {
    const before = deployJobs();
    const noDelivery = await deliver(fixture(BRANCH_PUSH), { delivery: null });
    expect(noDelivery.status).toBe(400);
    expect(((await noDelivery.json()) as { error: { message: string } }).error.message).toContain("X-GitHub-Delivery");
    const huge = variant(BRANCH_PUSH, (p) => {
      p.padding = "x".repeat(2 * 1024 * 1024);
    });
    const tooBig = await deliver(huge);
    expect(tooBig.status).toBe(413);
    expect(deployJobs()).toBe(before);
  });
});

describe("pull_request and create-on-push (no agent: jobs stay queued)", () => {
  const pr = (action: string, number: number) =>
    variant(`pull_request/${action === "labeled" ? "opened" : action}.payload.json`, (p) => {
      p.action = action;
      p.number = number;
      (p.pull_request as { number: number }).number = number;
    });
  const envCount = () => t.deps.db.select().from(environments).all().length;

  test("an env named like a preview but made by hand is never taken over or destroyed", async () => {
    await makeActiveEnv("pr-5", "dev");
    const opened = await deliver(pr("opened", 5), { event: "pull_request" });
    expect(opened.status).toBe(200);
    expect(((await opened.json()) as { reason: string }).reason).toContain("environment pr-5 already exists");
    const closed = await deliver(pr("closed", 5), { event: "pull_request" });
    expect(await closed.json()).toMatchObject({ result: "ignored", reason: "pull request #5 has no preview" });
    expect(t.deps.db.select().from(environments).where(eq(environments.name, "pr-5")).get()!.status).toBe("active");
    expect(t.deps.db.select().from(jobs).where(eq(jobs.kind, "env.destroy")).all()).toEqual([]);
  });

  test("a pull request from a fork gets no preview (it would run the fork's code here)", async () => {
    const before = envCount();
    const fromFork = (head: { full_name: string } | null) =>
      variant("pull_request/opened.payload.json", (p) => {
        p.number = 8;
        (p.pull_request as { head: { repo: unknown } }).head.repo = head;
      });
    const fork = await deliver(fromFork({ full_name: "mallory/Hello-World" }), { event: "pull_request" });
    expect(((await fork.json()) as { reason: string }).reason).toStartWith(
      "pull request #8 comes from mallory/Hello-World: a preview runs the PR's code on this host",
    );
    const deleted = await deliver(fromFork(null), { event: "pull_request" });
    expect(((await deleted.json()) as { reason: string }).reason).toStartWith(
      "pull request #8 comes from a deleted fork",
    );
    expect(envCount()).toBe(before);
  });

  test("opened: the preview's create and the head commit's deploy are queued; a head branch name odooops refuses is not recorded", async () => {
    const body = variant("pull_request/opened.payload.json", (p) => {
      p.number = 9;
      (p.pull_request as { head: { ref: string } }).head.ref = "-x";
    });
    const res = await deliver(body, { event: "pull_request" });
    expect(res.status).toBe(202);
    const out = (await res.json()) as { env: string; job: string; createJob: string; deployment: string };
    expect(out.env).toBe("pr-9");
    const env = t.deps.db.select().from(environments).where(eq(environments.slug, "pr-9")).get()!;
    expect([env.tier, env.status, env.branch]).toEqual(["dev_ephemeral", "creating", null]);
    const d = t.deps.db.select().from(deployments).where(eq(deployments.id, out.deployment)).get()!;
    expect([d.commitSha, d.branch, d.envId]).toEqual(["ec26c3e57ca3a959ca5aad62de7213c562f8c821", null, env.id]);
    expect(t.deps.jobs.queue.view(out.job).blockedBy?.id).toBe(out.createJob);
  });

  test("attack: an older pull request event replayed under a fresh delivery id redeploys nothing", async () => {
    const at = (action: string, sha: string, updated: string) =>
      variant(`pull_request/${action}.payload.json`, (p) => {
        p.number = 12;
        const pull = p.pull_request as { number: number; updated_at: string; head: { sha: string } };
        pull.number = 12;
        pull.updated_at = updated;
        pull.head.sha = sha;
      });
    const older = at("opened", "a".repeat(40), "2026-01-01T10:00:00Z");
    const opened = await deliver(older, { event: "pull_request" });
    expect(opened.status).toBe(202);
    const { createJob } = (await opened.json()) as { createJob: string };
    // The create never runs here (no agent): cancelled and the preview made active by hand.
    expect((await t.request(`/api/v1/jobs/${createJob}/cancel`, { method: "POST" })).status).toBe(200);
    t.deps.db.update(environments).set({ status: "active", release: 1 }).where(eq(environments.slug, "pr-12")).run();
    const previewId = t.deps.db.select().from(environments).where(eq(environments.slug, "pr-12")).get()!.id;
    const previewDeploys = () =>
      t.deps.db
        .select()
        .from(deployments)
        .where(eq(deployments.envId, previewId))
        .all()
        .map((d) => d.commitSha);
    expect(
      (await deliver(at("synchronize", "b".repeat(40), "2026-01-01T11:00:00Z"), { event: "pull_request" })).status,
    ).toBe(202);
    expect(previewDeploys()).toEqual(["a".repeat(40), "b".repeat(40)]);

    const replay = await deliver(older, { event: "pull_request", delivery: crypto.randomUUID() });
    expect(replay.status).toBe(200);
    expect(((await replay.json()) as { reason: string }).reason).toContain("a replayed event is not acted on");
    expect(previewDeploys()).toEqual(["a".repeat(40), "b".repeat(40)]);
  });

  test("a project without a repository gets no preview and no created env", async () => {
    const secret = `norepo-secret-${crypto.randomUUID()}`;
    expect(
      (await t.request("/api/v1/projects/norepo", { method: "PUT", body: JSON.stringify({ webhookSecret: secret }) }))
        .status,
    ).toBe(200);
    const before = envCount();
    const res = await deliver(pr("opened", 6), { event: "pull_request", secret, query: "?project=norepo" });
    expect(await res.json()).toMatchObject({
      result: "ignored",
      reason: "project norepo has no git repository; set one: odooops project set norepo --repo <url>",
    });
    expect(envCount()).toBe(before);
  });

  test("create: true without auto_deploy creates the env and deploys nothing; the next push finds it", async () => {
    const before = deployJobs();
    const push = variant(BRANCH_PUSH, (p) => {
      p.ref = "refs/heads/create/one";
    });
    const res = await deliver(push);
    expect(res.status).toBe(202);
    const body = (await res.json()) as { env: string; job: string; createJob: string; deployment?: string };
    expect(body.env).toBe("c-create-one");
    expect(body.createJob).toBe(body.job);
    expect(body.deployment).toBeUndefined();
    const env = t.deps.db.select().from(environments).where(eq(environments.slug, "c-create-one")).get()!;
    expect([env.tier, env.branch, env.status, env.createdBy]).toEqual([
      "dev",
      "create/one",
      "creating",
      "github-webhook",
    ]);
    expect(t.deps.db.select().from(jobs).where(eq(jobs.id, body.createJob)).get()!.kind).toBe("env.create");
    const again = await deliver(laterPush("refs/heads/create/one"));
    expect(await again.json()).toMatchObject({
      result: "ignored",
      reason: "branch mapping 3 (create/*) has auto_deploy off",
    });
    expect(deployJobs()).toBe(before);
  });

  test("create + auto_deploy: the deploy waits behind the create on the env lock, and fails at once if the create never made the env", async () => {
    const push = variant(BRANCH_PUSH, (p) => {
      p.ref = "refs/heads/both/one";
    });
    const res = await deliver(push);
    expect(res.status).toBe(202);
    const body = (await res.json()) as { env: string; job: string; createJob: string; deployment: string };
    expect(body.env).toBe("b-both-one");
    const deploy = t.deps.jobs.queue.view(body.job);
    expect([deploy.kind, deploy.status, deploy.blockedBy?.id]).toEqual(["deploy", "queued", body.createJob]);
    // The create is cancelled before it ran: the env was never made, so the deploy has nothing to deploy to.
    expect((await t.request(`/api/v1/jobs/${body.createJob}/cancel`, { method: "POST" })).status).toBe(200);
    // Only this deploy may run here: earlier tests' queued jobs would touch the real host.
    for (const j of t.deps.db.select().from(jobs).where(eq(jobs.status, "queued")).all())
      if (j.id !== body.job) t.deps.jobs.queue.cancel(j.id);
    const agent = new Agent({
      identity: { hostId: "test", owner: `test:${crypto.randomUUID()}` },
      channel: t.deps.jobs.queue,
      registry: t.deps.jobs.registry,
      deps: t.deps,
      pollMs: 20,
    });
    agent.start();
    try {
      for (let i = 0; i < 500 && t.deps.jobs.queue.view(body.job).status !== "failed"; i++) await Bun.sleep(20);
    } finally {
      await agent.stop(1000);
    }
    const failed = t.deps.jobs.queue.view(body.job);
    expect(failed.status).toBe("failed");
    expect(failed.error).toContain("environment b-both-one is creating; nothing to deploy to");
    expect(t.deps.db.select().from(deployments).where(eq(deployments.id, body.deployment)).get()!.status).toBe(
      "failed",
    );
  });
});
