/**
 * Pull request previews and create-on-push end to end on a real host (PostgreSQL, dockerd, nginx,
 * the Odoo stand-in, a real git repository), driven by signed fixture payloads through the API,
 * with GitHub played by the local stand-in (test/support/github.ts) that records every call.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { deployments } from "../../src/deploy/deploy.sql";
import { environments, projects } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { ttlSweep } from "../../src/github/ttl-sweep";
import { run } from "../../src/exec/run";
import { githubPreviews } from "../../src/github/github.sql";
import { reconcilePreviews } from "../../src/github/reconcile";
import { signBody } from "../../src/github/signature";
import { listDatabases, pgConnect } from "../../src/host/postgres";
import { jobs } from "../../src/jobs/jobs.sql";
import type { JobView } from "../../src/jobs/view";
import { policies } from "../../src/policy/policy.sql";
import { removeByLabel } from "../support/docker";
import { startEnvHost } from "../support/env-host";
import { type FakeGithub, startFakeGithub } from "../support/github";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { makeRepo, type TestRepo } from "../git/repo";

const FIXTURES = join(import.meta.dir, "..", "..", "..", "shared", "fixtures", "github-webhooks");
const REPO = "Codertocat/Hello-World";
const SECRET = `previews-secret-${crypto.randomUUID()}`;
const POLICY =
  "branch_mappings:\n  - { pattern: 'feature/*', tier: dev, env: 'feat-{branch}', auto_deploy: true, create: true }\nttl_policies: { dev: never, dev_ephemeral: 7d }\n";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let github: FakeGithub;
let repo: TestRepo;
let dir = "";
let sha1 = "";
const envIds: string[] = [];

beforeAll(async () => {
  dir = makeTempDir("odooops-previews-");
  github = await startFakeGithub();
  const gh = github.config(join(dir, "gh"));
  host = await startEnvHost({
    configOverrides: {
      publicUrl: "https://ops.example.test",
      deploy: { drainSec: 1, healthTimeoutSec: 30, runTests: false, rehearse: false },
      github: gh.github,
    },
  });
  repo = await makeRepo(join(dir, "repo"));
  sha1 = await repo.commit({ ".odooops/policies.yaml": POLICY, "README.md": "addons\n" });
  const res = await host.api.request("/api/v1/projects/default", {
    method: "PUT",
    body: JSON.stringify({ repoUrl: repo.url, webhookSecret: SECRET }),
  });
  expect(res.status).toBe(200);
  // What a deploy of the repository records; the webhook reads state, never git.
  const project = host.deps.db.select().from(projects).where(eq(projects.name, "default")).get()!;
  host.deps.db
    .insert(policies)
    .values({ projectId: project.id, source: "repo", commitSha: sha1, branch: "main", document: POLICY })
    .run();
}, 180_000);

afterAll(async () => {
  for (const id of envIds) await removeByLabel(`odooops.env=${id}`);
  await host?.stop();
  await github?.stop();
  if (dir) removeTempDir(dir);
}, 120_000);

type Payload = Record<string, unknown> & { pull_request: { number: number; head: { sha: string; ref: string } } };

function payload(file: string, change: (p: Payload) => void): Uint8Array {
  const p = JSON.parse(readFileSync(join(FIXTURES, file), "utf8")) as Payload;
  change(p);
  return new TextEncoder().encode(JSON.stringify(p));
}

function pr(
  action: "opened" | "reopened" | "synchronize" | "closed",
  number: number,
  sha: string,
  ref = `feature-${number}`,
): Uint8Array {
  return payload(`pull_request/${action}.payload.json`, (p) => {
    p.number = number;
    p.pull_request.number = number;
    p.pull_request.head.sha = sha;
    p.pull_request.head.ref = ref;
  });
}

interface Queued {
  result: string;
  env: string;
  job: string;
  deployment?: string;
  createJob?: string;
  reason?: string;
}

async function deliver(event: string, body: Uint8Array): Promise<{ status: number; body: Queued }> {
  const res = await host.api.app.request("/api/v1/webhooks/github?project=default", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": crypto.randomUUID(),
      "x-hub-signature-256": signBody(SECRET, body),
    },
    body,
  });
  return { status: res.status, body: (await res.json()) as Queued };
}

const envRow = (slug: string) => host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
const jobRow = (id: string) => host.deps.db.select().from(jobs).where(eq(jobs.id, id)).get()!;
const preview = (number: number) =>
  host.deps.db.select().from(githubPreviews).where(eq(githubPreviews.prNumber, number)).get()!;
const commentPosts = (number: number) =>
  github.calls.filter((c) => c.method === "POST" && c.path === `/repos/${REPO}/issues/${number}/comments`);
const statuses = (sha: string) =>
  github.calls
    .filter((c) => c.path === `/repos/${REPO}/statuses/${sha}` && c.answered === 201)
    .map((c) => c.body?.state);

async function succeeded(id: string): Promise<JobView> {
  const job = await host.waitJob(id, 300_000);
  expect([job.status, job.error]).toEqual(["succeeded", null]);
  return job;
}

/** Create, then deploy: the deploy was queued at once but ran only after the create released the env lock. */
async function createdThenDeployed(out: Queued): Promise<void> {
  expect(out.createJob).toBeString();
  await succeeded(out.createJob!);
  envIds.push(envRow(out.env).id);
  await succeeded(out.job);
  const create = jobRow(out.createJob!);
  const deploy = jobRow(out.job);
  expect(deploy.lockKey).toBe(create.lockKey);
  expect(deploy.createdAt <= create.finishedAt!).toBe(true);
  expect(deploy.startedAt! >= create.finishedAt!).toBe(true);
}

async function healthy(slug: string): Promise<void> {
  const res = await host.viaNginx(envRow(slug).domain, "/web/health");
  expect(res.status).toBe(200);
}

describe("pull request previews", () => {
  let commentId = 0;

  test("opened: pr-<n> (dev_ephemeral, the project's) created, the head commit deployed behind it, served through nginx; comment and statuses posted", async () => {
    const before = Date.now();
    const { status, body } = await deliver("pull_request", pr("opened", 41, sha1));
    expect(status).toBe(202);
    expect(body).toMatchObject({ result: "queued", env: "pr-41" });
    await createdThenDeployed(body);
    const env = envRow("pr-41");
    expect([env.tier, env.status, env.projectId]).toEqual(["dev_ephemeral", "active", preview(41).projectId]);
    expect(Date.parse(env.ttlExpiresAt!) - before).toBeWithin(7 * 86_400_000 - 60_000, 7 * 86_400_000 + 60_000);
    const d = host.deps.db.select().from(deployments).where(eq(deployments.id, body.deployment!)).get()!;
    expect([d.commitSha, d.status, d.envId]).toEqual([sha1, "success", env.id]);
    expect(env.currentDeploymentId).toBe(d.id);
    await healthy("pr-41");

    await github.until("the preview comment", () => preview(41).commentId !== null);
    const row = preview(41);
    expect([row.repo, row.envId, row.headSha, row.closedAt]).toEqual([REPO, env.id, sha1, null]);
    commentId = row.commentId!;
    const comment = github.comments.get(commentId)!;
    expect([comment.repo, comment.pr]).toEqual([REPO, 41]);
    expect(comment.body).toContain(`http://${env.domain}:${host.config.nginx.httpPort}`);
    expect(comment.body).toContain(sha1);
    expect(comment.body).toContain("deployed");
    await github.until("success status", () => statuses(sha1).includes("success"));
    expect(statuses(sha1)).toEqual(["pending", "success"]);
  }, 600_000);

  test("synchronize: the new head is deployed and the same comment is edited in place", async () => {
    const sha2 = await repo.commit({ "README.md": "addons, second push\n" });
    const { status, body } = await deliver("pull_request", pr("synchronize", 41, sha2));
    expect(status).toBe(202);
    expect(body.env).toBe("pr-41");
    expect(body.createJob).toBeUndefined();
    await succeeded(body.job);
    await healthy("pr-41");
    await github.until("the edited comment", () => github.comments.get(commentId)!.body.includes(sha2));
    expect(commentPosts(41).length).toBe(1);
    expect(
      github.calls.filter((c) => c.method === "PATCH" && c.path === `/repos/${REPO}/issues/comments/${commentId}`)
        .length,
    ).toBe(1);
    expect(preview(41).headSha).toBe(sha2);
    await github.until("success status", () => statuses(sha2).includes("success"));
  }, 600_000);

  test("TTL: one warning comment within 24 h of expiry (a second sweep stays quiet); extend moves the expiry", async () => {
    const env = envRow("pr-41");
    const at = new Date(Date.parse(env.ttlExpiresAt!) - 12 * 3_600_000);
    expect(ttlSweep(host.deps, at)).toEqual({ warned: ["pr-41"], destroyed: [], failed: [] });
    await github.until("the warning", () => commentPosts(41).length === 2);
    const warning = github.comments.get(Math.max(...github.comments.keys()))!;
    expect(warning.body).toContain("odooops env extend pr-41 --ttl 3d");
    expect(ttlSweep(host.deps, new Date(at.getTime() + 3_600_000))).toEqual({ warned: [], destroyed: [], failed: [] });
    await Bun.sleep(200);
    expect(commentPosts(41).length).toBe(2);
    const res = await host.api.request("/api/v1/environments/pr-41/extend", {
      method: "POST",
      body: JSON.stringify({ ttl: "30d" }),
    });
    expect(res.status).toBe(200);
    expect(envRow("pr-41").ttlWarnedAt).toBeNull();
  }, 60_000);

  test("a closed PR without a preview, and unhandled actions, are recorded and ignored", async () => {
    const closed = await deliver("pull_request", pr("closed", 99, sha1));
    expect(closed).toMatchObject({
      status: 200,
      body: { result: "ignored", reason: "pull request #99 has no preview" },
    });
    const labeled = await deliver(
      "pull_request",
      payload("pull_request/opened.payload.json", (p) => (p.action = "labeled")),
    );
    expect(labeled.body).toMatchObject({ result: "ignored", reason: "pull_request action labeled is not handled" });
  });

  test("closed: the preview is destroyed with its database, containers, vhost and files", async () => {
    const env = envRow("pr-41");
    const { status, body } = await deliver("pull_request", pr("closed", 41, sha1));
    expect(status).toBe(202);
    expect(body.env).toBe("pr-41");
    await succeeded(body.job);
    const after = host.deps.db.select().from(environments).where(eq(environments.id, env.id)).get()!;
    expect(after.status).toBe("destroyed");
    expect(preview(41).closedAt).not.toBeNull();
    await github.until("the comment saying so", () =>
      github.comments.get(preview(41).commentId!)!.body.includes("removed (pull request closed)"),
    );
    expect(commentPosts(41).length).toBe(2);
    const admin = pgConnect({
      host: host.pg.host,
      port: host.pg.port,
      user: host.pg.user,
      password: host.pg.password,
      database: "postgres",
    });
    try {
      expect(await listDatabases(admin, env.dbName)).toEqual([]);
    } finally {
      await admin.close();
    }
    const labelled = await run({ argv: ["docker", "ps", "-a", "-q", "--filter", `label=odooops.env=${env.id}`] });
    expect(labelled.stdout.trim()).toBe("");
    const nets = await run({ argv: ["docker", "network", "ls", "-q", "--filter", `label=odooops.env=${env.id}`] });
    expect(nets.stdout.trim()).toBe("");
    expect(existsSync(envResources(env, host.deps).dir)).toBe(false);
    expect(existsSync(join(host.deps.paths.nginxDir, "sites", `${env.slug}.conf`))).toBe(false);
    // nginx's default server may answer or drop the connection; either way nothing serves the env.
    expect(
      await host.viaNginx(env.domain, "/web/health").then(
        (r) => r.status,
        () => "closed",
      ),
    ).not.toBe(200);
  }, 300_000);
});

describe("reconciliation", () => {
  test("a preview whose PR is no longer open is destroyed; a GitHub error destroys nothing", async () => {
    const { body } = await deliver("pull_request", pr("opened", 42, sha1));
    await createdThenDeployed(body);
    // 150 open PRs: two pages of 100, the second reached through the Link header.
    const others = Array.from({ length: 150 }, (_, i) => 1000 + i);
    github.setOpenPulls(REPO, [...others, 42]);
    expect(await reconcilePreviews(host.deps)).toEqual({ destroyed: [], skipped: [] });
    const lists = github.calls.filter((c) => c.method === "GET" && c.path === `/repos/${REPO}/pulls`);
    expect(lists.slice(-2).map((c) => [c.query.state, c.query.per_page, c.query.page ?? "1"])).toEqual([
      ["open", "100", "1"],
      ["open", "100", "2"],
    ]);

    github.setOpenPulls(REPO, others);
    github.script([500, 502, 503]);
    expect(await reconcilePreviews(host.deps)).toEqual({ destroyed: [], skipped: [REPO] });
    expect(envRow("pr-42").status).toBe("active");

    expect(await reconcilePreviews(host.deps)).toEqual({ destroyed: ["pr-42"], skipped: [] });
    const destroy = host.deps.db
      .select()
      .from(jobs)
      .where(eq(jobs.kind, "env.destroy"))
      .all()
      .find((j) => j.target === "pr-42")!;
    await succeeded(destroy.id);
    expect(
      host.deps.db
        .select()
        .from(environments)
        .where(eq(environments.id, preview(42).envId))
        .get()!.status,
    ).toBe("destroyed");
  }, 600_000);
});

describe("push on a mapped branch with create: true", () => {
  test("creates the env (tier and name from the mapping) and deploys the pushed commit behind the create", async () => {
    const sha = await repo.git("rev-parse", "HEAD");
    const push = payload("push/with-new-branch.payload.json", (p) => {
      p.ref = "refs/heads/feature/x";
      p.after = sha;
    });
    const { status, body } = await deliver("push", push);
    expect(status).toBe(202);
    expect(body.env).toBe("feat-feature-x");
    await createdThenDeployed(body);
    const env = envRow("feat-feature-x");
    expect([env.tier, env.branch, env.status, env.ttlExpiresAt]).toEqual(["dev", "feature/x", "active", null]);
    const d = host.deps.db.select().from(deployments).where(eq(deployments.id, body.deployment!)).get()!;
    expect([d.commitSha, d.status]).toEqual([sha, "success"]);
    await healthy("feat-feature-x");
    // A second push (a new head: the same push again would be a replay) deploys; it does not create again.
    const next = await repo.commit({ "README.md": "addons, pushed to feature/x\n" });
    const again = await deliver(
      "push",
      payload("push/with-new-branch.payload.json", (p) => {
        p.ref = "refs/heads/feature/x";
        p.after = next;
      }),
    );
    expect(again.body.createJob).toBeUndefined();
    await succeeded(again.body.job);
  }, 600_000);

  test("a failing required gate at the pushed commit blocks the deploy and GitHub gets failure; the old release serves", async () => {
    const serving = envRow("feat-feature-x");
    const gate = `health_gates:\n  dev:\n    tests: { required: true, command: ["python3", "-c", "import sys; print('gate says no'); sys.exit(3)"] }\n`;
    const sha = await repo.commit({ ".odooops/policies.yaml": `${POLICY}${gate}` });
    const { status, body } = await deliver(
      "push",
      payload("push/with-new-branch.payload.json", (p) => {
        p.ref = "refs/heads/feature/x";
        p.after = sha;
      }),
    );
    expect(status).toBe(202);
    const job = await host.waitJob(body.job, 300_000);
    expect(job.status).toBe("failed");
    expect(job.error).toContain("gate says no");
    await github.until("failure status", () => statuses(sha).includes("failure"));
    expect(statuses(sha)).toEqual(["pending", "failure"]);
    expect(envRow("feat-feature-x")).toMatchObject({
      release: serving.release,
      currentDeploymentId: serving.currentDeploymentId,
    });
    await healthy("feat-feature-x");
  }, 600_000);
});
