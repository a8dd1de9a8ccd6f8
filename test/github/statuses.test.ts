/**
 * Commit statuses for webhook-triggered deploys, posted to the local GitHub stand-in
 * (test/support/github.ts) that records every call. No agent runs here: the test leases
 * and finishes the deploy jobs itself, as an agent would.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { ConfigSchema } from "../../src/config/schema";
import { environments, projects } from "../../src/env/env.sql";
import { signBody } from "../../src/github/signature";
import { STATUS_CONTEXT } from "../../src/github/statuses";
import type { JobView } from "../../src/jobs/view";
import { policies } from "../../src/policy/policy.sql";
import { type FakeGithub, startFakeGithub } from "../support/github";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { makeTestApi } from "../support/api";

const FIXTURES = join(import.meta.dir, "..", "..", "..", "shared", "fixtures", "github-webhooks");
const PUSH = JSON.parse(readFileSync(join(FIXTURES, "push", "with-new-branch.payload.json"), "utf8")) as {
  after: string;
  repository: { pushed_at: number };
};
const PR_OPENED = JSON.parse(readFileSync(join(FIXTURES, "pull_request", "opened.payload.json"), "utf8")) as Record<
  string,
  unknown
>;
/** GitHub's own limits: a status description of 140 characters, a comment of 65,536. */
const STATUS_DESCRIPTION_MAX = 140;
const COMMENT_MAX = 65_536;
const SECRET = `statuses-secret-${crypto.randomUUID()}`;

let github: FakeGithub;
let t: Awaited<ReturnType<typeof makeTestApi>>;
let dir = "";
let TOKEN = "";
/** Status calls only, in the shape the assertions read. */
const statusCalls = () =>
  github.calls
    .filter((c) => c.path.includes("/statuses/"))
    .map((c) => ({
      ...c,
      body: c.body as { state: string; context: string; description: string; target_url?: string },
    }));

beforeAll(async () => {
  github = await startFakeGithub();
  dir = makeTempDir("odooops-gh-status-");
  const gh = github.config(dir);
  TOKEN = gh.token;
  const config = ConfigSchema.parse({ publicUrl: "https://ops.example.test", github: gh.github });
  t = await makeTestApi({ config });
  expect(
    (
      await t.request("/api/v1/projects/default", {
        method: "PUT",
        body: JSON.stringify({ repoUrl: "https://github.com/Codertocat/Hello-World.git", webhookSecret: SECRET }),
      })
    ).status,
  ).toBe(200);
  const project = t.deps.db.select().from(projects).where(eq(projects.name, "default")).get()!;
  t.deps.db
    .insert(policies)
    .values({
      projectId: project.id,
      source: "repo",
      commitSha: "0".repeat(40),
      branch: "main",
      document: "branch_mappings:\n  - { pattern: master, tier: staging, auto_deploy: true }\n",
    })
    .run();
  const res = await t.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name: "master", tier: "staging", branch: "master" }),
  });
  const created = (await res.json()) as { job: JobView };
  expect((await t.request(`/api/v1/jobs/${created.job.id}/cancel`, { method: "POST" })).status).toBe(200);
  t.deps.db.update(environments).set({ status: "active", release: 1 }).where(eq(environments.name, "master")).run();
});
afterAll(async () => {
  await github?.stop();
  t?.cleanup();
  if (dir) removeTempDir(dir);
});

async function deliver(event: string, payload: unknown): Promise<Response> {
  const body = new TextEncoder().encode(JSON.stringify(payload));
  return t.app.request("/api/v1/webhooks/github", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": crypto.randomUUID(),
      "x-hub-signature-256": signBody(SECRET, body),
    },
    body,
  });
}

let pushes = 0;
let SHA = "";
/** A new push to master (a new head each time: the same push again would be a replay); its deploy job. */
async function push(): Promise<string> {
  SHA = (++pushes).toString(16).padStart(40, "a");
  const res = await deliver("push", {
    ...PUSH,
    after: SHA,
    repository: { ...PUSH.repository, pushed_at: PUSH.repository.pushed_at + pushes },
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { job: string }).job;
}

const until = (what: string, ok: () => boolean) => github.until(what, ok, 5_000);

async function runJob(
  jobId: string,
  outcome: { status: "succeeded"; result: null } | { status: "failed"; error: string },
) {
  const owner = `test-agent-${crypto.randomUUID()}`;
  const leased = await t.deps.jobs.queue.lease({ owner, hostId: "test-host" }, 60_000);
  expect(leased?.job.id).toBe(jobId);
  await t.deps.jobs.queue.finish(jobId, owner, outcome);
}

test("pending when queued (retried after a 502), success when the deploy job succeeds", async () => {
  github.calls.length = 0;
  github.script([502]);
  const job = await push();
  await until("pending", () => statusCalls().some((c) => c.body.state === "pending" && c.answered === 201));
  await runJob(job, { status: "succeeded", result: null });
  await until("success", () => statusCalls().some((c) => c.body.state === "success"));
  expect(statusCalls().map((c) => [c.body.state, c.answered])).toEqual([
    ["pending", 502],
    ["pending", 201],
    ["success", 201],
  ]);
  for (const c of statusCalls()) {
    expect(c.path).toBe(`/repos/Codertocat/Hello-World/statuses/${SHA}`);
    expect(c.auth).toBe(`Bearer ${TOKEN}`);
    expect(c.body.context).toBe(STATUS_CONTEXT);
    expect(c.body.target_url).toBe(`https://ops.example.test/api/v1/jobs/${job}/log`);
  }
  expect(statusCalls()[2].body.description).toBe("deployed to master");
});

test("failure with the job's error when the deploy fails; error when it is cancelled", async () => {
  github.calls.length = 0;
  github.script([]);
  const failing = await push();
  await until("pending", () => statusCalls().length === 1);
  await runJob(failing, { status: "failed", error: "health check timed out" });
  await until("failure", () => statusCalls().length === 2);
  expect(statusCalls().map((c) => c.body.state)).toEqual(["pending", "failure"]);
  expect(statusCalls()[1].body.description).toBe("deploy to master failed: health check timed out");

  github.calls.length = 0;
  const cancelled = await push();
  await until("pending", () => statusCalls().length === 1);
  expect((await t.request(`/api/v1/jobs/${cancelled}/cancel`, { method: "POST" })).status).toBe(200);
  await until("error", () => statusCalls().length === 2);
  expect(statusCalls().map((c) => c.body.state)).toEqual(["pending", "error"]);
});

test("GitHub down: the deploy is queued anyway and each status is given up after its attempts; a 4xx is not retried", async () => {
  github.calls.length = 0;
  github.script([500, 503, 500, 401]);
  const job = await push();
  expect(t.deps.jobs.queue.view(job).status).toBe("queued");
  await until("three pending attempts", () => statusCalls().length === 3);
  await runJob(job, { status: "succeeded", result: null });
  await until("the success attempt", () => statusCalls().length === 4);
  await Bun.sleep(100);
  expect(statusCalls().map((c) => [c.body.state, c.answered])).toEqual([
    ["pending", 500],
    ["pending", 503],
    ["pending", 500],
    ["success", 401],
  ]);
});

test("attack: a failure whose message carries secrets and a host file is published redacted and capped (status and PR comment)", async () => {
  const hostFile = readFileSync("/etc/passwd", "utf8");
  const excerpt = Array.from({ length: 200 }, () => hostFile).join("");
  const error = [
    `module update failed (exit 1): password=Sup3r-s3cret-pw token ${TOKEN} reading /etc/odooops/key.json: ${hostFile.split("\n")[0]}`,
    excerpt,
  ].join("\n");
  const leaks = (text: string) =>
    [TOKEN, "Sup3r-s3cret-pw", "/etc/odooops", "root:x:0:0", hostFile.split("\n")[1]].filter(
      (s) => s && text.includes(s),
    );

  github.calls.length = 0;
  const job = await push();
  await until("pending", () => statusCalls().length === 1);
  await runJob(job, { status: "failed", error });
  await until("failure", () => statusCalls().length === 2);
  const description = statusCalls()[1].body.description;
  expect(leaks(description)).toEqual([]);
  expect(description.length).toBeLessThanOrEqual(STATUS_DESCRIPTION_MAX);
  expect(description).toBe("deploy to master failed: module update failed (exit 1)");

  // A pull request preview: its deploy fails with the same error; the comment must not carry it either.
  const opened = await deliver("pull_request", { ...PR_OPENED, number: 77 });
  expect(opened.status).toBe(202);
  const preview = (await opened.json()) as { job: string; createJob: string };
  expect((await t.request(`/api/v1/jobs/${preview.createJob}/cancel`, { method: "POST" })).status).toBe(200);
  await runJob(preview.job, { status: "failed", error });
  await until("the preview comment", () => [...github.comments.values()].some((c) => c.pr === 77));
  const comment = [...github.comments.values()].find((c) => c.pr === 77)!.body;
  expect(leaks(comment)).toEqual([]);
  expect(comment.length).toBeLessThanOrEqual(COMMENT_MAX);
  expect(comment).toContain("deploy failed: module update failed (exit 1) (");
  await until(
    "the preview's failure status",
    () =>
      statusCalls().filter((c) =>
        c.path.endsWith(`/statuses/${(PR_OPENED.pull_request as { head: { sha: string } }).head.sha}`),
      ).length === 2,
  );
  for (const c of statusCalls()) expect(leaks(c.body.description)).toEqual([]);
});
