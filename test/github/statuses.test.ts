/**
 * Commit statuses for webhook-triggered deploys, posted to a local stand-in of GitHub's REST API
 * (hono on a free loopback port) that records every call. No agent runs here: the test leases
 * and finishes the deploy jobs itself, as an agent would.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { Hono } from "hono";
import { ConfigSchema } from "../../src/config/schema";
import { environments, projects } from "../../src/env/env.sql";
import { signBody } from "../../src/github/signature";
import { STATUS_CONTEXT } from "../../src/github/statuses";
import type { JobView } from "../../src/jobs/view";
import { policies } from "../../src/policy/policy.sql";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { makeTestApi } from "../support/api";

const FIXTURES = join(import.meta.dir, "..", "..", "..", "shared", "fixtures", "github-webhooks");
const PUSH = new Uint8Array(readFileSync(join(FIXTURES, "push", "with-new-branch.payload.json")));
const SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const SECRET = `statuses-secret-${crypto.randomUUID()}`;
const TOKEN = `ghp_test_${crypto.randomUUID().replace(/-/g, "")}`;

interface Call {
  path: string;
  auth: string | null;
  body: { state: string; context: string; description: string; target_url?: string };
  answered: number;
}
const calls: Call[] = [];
/** Answers to give, in order, before the default 201. */
let script: number[] = [];
let github: ReturnType<typeof Bun.serve>;
let t: Awaited<ReturnType<typeof makeTestApi>>;
let dir = "";

beforeAll(async () => {
  const fake = new Hono();
  fake.post("/repos/:owner/:repo/statuses/:sha", async (c) => {
    const answered = script.shift() ?? 201;
    calls.push({ path: c.req.path, auth: c.req.header("authorization") ?? null, body: await c.req.json(), answered });
    return c.json(answered === 201 ? { id: calls.length, state: "recorded" } : { message: "stand-in failure" }, answered as 201);
  });
  github = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: fake.fetch });
  dir = makeTempDir("odooops-gh-status-");
  const tokenFile = join(dir, "github-token");
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const config = ConfigSchema.parse({ publicUrl: "https://ops.example.test", github: { apiUrl: `http://127.0.0.1:${github.port}`, tokenFile, retryBaseMs: 20, statusAttempts: 3 } });
  t = await makeTestApi({ config });
  expect((await t.request("/api/v1/projects/default", { method: "PUT", body: JSON.stringify({ repoUrl: "https://github.com/Codertocat/Hello-World.git", webhookSecret: SECRET }) })).status).toBe(200);
  const project = t.deps.db.select().from(projects).where(eq(projects.name, "default")).get()!;
  t.deps.db.insert(policies).values({ projectId: project.id, source: "server", document: "branch_mappings:\n  - { pattern: master, tier: staging, auto_deploy: true }\n" }).run();
  const res = await t.request("/api/v1/environments", { method: "POST", body: JSON.stringify({ name: "master", tier: "staging" }) });
  const created = (await res.json()) as { job: JobView };
  expect((await t.request(`/api/v1/jobs/${created.job.id}/cancel`, { method: "POST" })).status).toBe(200);
  t.deps.db.update(environments).set({ status: "active", release: 1 }).where(eq(environments.name, "master")).run();
});
afterAll(async () => {
  await github?.stop(true);
  t?.cleanup();
  if (dir) removeTempDir(dir);
});

async function push(): Promise<string> {
  const res = await t.app.request("/api/v1/webhooks/github", {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": crypto.randomUUID(), "x-hub-signature-256": signBody(SECRET, PUSH) },
    body: PUSH,
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { job: string }).job;
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await Bun.sleep(10);
  if (!ok()) throw new Error(`timed out waiting for ${what}; calls: ${JSON.stringify(calls.map((c) => [c.body.state, c.answered]))}`);
}

async function runJob(jobId: string, outcome: { status: "succeeded"; result: null } | { status: "failed"; error: string }) {
  const owner = `test-agent-${crypto.randomUUID()}`;
  const leased = await t.deps.jobs.queue.lease({ owner, hostId: "test-host" }, 60_000);
  expect(leased?.job.id).toBe(jobId);
  await t.deps.jobs.queue.finish(jobId, owner, outcome);
}

test("pending when queued (retried after a 502), success when the deploy job succeeds", async () => {
  calls.length = 0;
  script = [502];
  const job = await push();
  await until("pending", () => calls.some((c) => c.body.state === "pending" && c.answered === 201));
  await runJob(job, { status: "succeeded", result: null });
  await until("success", () => calls.some((c) => c.body.state === "success"));
  expect(calls.map((c) => [c.body.state, c.answered])).toEqual([
    ["pending", 502],
    ["pending", 201],
    ["success", 201],
  ]);
  for (const c of calls) {
    expect(c.path).toBe(`/repos/Codertocat/Hello-World/statuses/${SHA}`);
    expect(c.auth).toBe(`Bearer ${TOKEN}`);
    expect(c.body.context).toBe(STATUS_CONTEXT);
    expect(c.body.target_url).toBe(`https://ops.example.test/api/v1/jobs/${job}/log`);
  }
  expect(calls[2].body.description).toBe("deployed to master");
});

test("failure with the job's error when the deploy fails; error when it is cancelled", async () => {
  calls.length = 0;
  script = [];
  const failing = await push();
  await until("pending", () => calls.length === 1);
  await runJob(failing, { status: "failed", error: "health check timed out" });
  await until("failure", () => calls.length === 2);
  expect(calls.map((c) => c.body.state)).toEqual(["pending", "failure"]);
  expect(calls[1].body.description).toBe("deploy to master failed: health check timed out");

  calls.length = 0;
  const cancelled = await push();
  await until("pending", () => calls.length === 1);
  expect((await t.request(`/api/v1/jobs/${cancelled}/cancel`, { method: "POST" })).status).toBe(200);
  await until("error", () => calls.length === 2);
  expect(calls.map((c) => c.body.state)).toEqual(["pending", "error"]);
});

test("GitHub down: the deploy is queued anyway and each status is given up after its attempts; a 4xx is not retried", async () => {
  calls.length = 0;
  script = [500, 503, 500, 401];
  const job = await push();
  expect(t.deps.jobs.queue.view(job).status).toBe("queued");
  await until("three pending attempts", () => calls.length === 3);
  await runJob(job, { status: "succeeded", result: null });
  await until("the success attempt", () => calls.length === 4);
  await Bun.sleep(100);
  expect(calls.map((c) => [c.body.state, c.answered])).toEqual([
    ["pending", 500],
    ["pending", 503],
    ["pending", 500],
    ["success", 401],
  ]);
});
