/**
 * A leased job that its agent finishes while the coordinator is away: the agent keeps the finish
 * (state/outbox/leased/) and hands it over before its next lease; the coordinator takes it as how
 * the job ran only if the job was leased to that host and not leased again since, else it notes
 * the report in the job log and keeps its own outcome. The decision (pure), the route (real queue
 * and state, in process) and a real Agent runner whose coordinator goes away mid-job.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { z } from "zod";
import { LeasedOutbox } from "../../src/daemon/outbox";
import { lateFinishDecision } from "../../src/fleet/late-finish";
import { CoordinatorClient } from "../../src/fleet/coordinator-client";
import { Agent } from "../../src/jobs/agent";
import { defineJob, type StepContext } from "../../src/jobs/define";
import { HttpJobChannel } from "../../src/jobs/http-channel";
import { jobs } from "../../src/jobs/jobs.sql";
import { TERMINAL } from "../../src/jobs/status";
import { ConfigSchema } from "../../src/config/schema";
import { createAgentApp } from "../../src/api/routes/agent";
import { makeTestApi } from "../support/api";
import { AGENT_INVENTORY } from "../support/fleet-api";
import { until } from "../support/wait";

describe("the coordinator's decision on a late finish", () => {
  const report = { owner: "h1:p1", attempt: 2 };
  test("taken: requeued after its lease expired and not leased since, or still under the reporter's lease", () => {
    expect(lateFinishDecision({ status: "queued", leaseOwner: null, attempts: 2 }, report)).toEqual({ take: true });
    expect(lateFinishDecision({ status: "running", leaseOwner: "h1:p1", attempts: 2 }, report)).toEqual({
      take: true,
    });
    // Leased again to the reporter itself (the answer never reached it): still its own lease.
    expect(lateFinishDecision({ status: "running", leaseOwner: "h1:p1", attempts: 3 }, report)).toEqual({
      take: true,
    });
  });
  test("not taken: leased again since, leased to another owner, or already ended here", () => {
    expect(lateFinishDecision({ status: "running", leaseOwner: "h1:p2", attempts: 3 }, report)).toEqual({
      take: false,
      why: "the job is leased to h1:p2",
    });
    expect(lateFinishDecision({ status: "queued", leaseOwner: null, attempts: 3 }, report)).toEqual({
      take: false,
      why: "the job was leased again since (attempt 3, the report's 2)",
    });
    expect(lateFinishDecision({ status: "running", leaseOwner: "h1:p2", attempts: 2 }, report)).toEqual({
      take: false,
      why: "the job is leased to h1:p2",
    });
    for (const status of ["succeeded", "failed", "cancelled"] as const)
      expect(lateFinishDecision({ status, leaseOwner: null, attempts: 2 }, report)).toEqual({
        take: false,
        why: `the job had already ended here (${status})`,
      });
  });
});

// A job whose first step waits until the test lets it go: the coordinator goes away meanwhile.
let runs = "";
let release: () => void = () => undefined;
let gate = Promise.resolve();
const probe = defineJob<{ key: string }>({
  kind: "late-probe",
  params: z.object({ key: z.string() }),
  lockKey: (p) => p.key,
  target: (p) => p.key,
  steps: [
    {
      name: "one",
      title: "Step one",
      async run(ctx: StepContext<{ key: string }>) {
        appendFileSync(runs, `${ctx.params.key} one\n`);
        await gate;
        ctx.log("one is done");
      },
    },
    {
      name: "two",
      title: "Step two",
      async run(ctx: StepContext<{ key: string }>) {
        appendFileSync(runs, `${ctx.params.key} two\n`);
        ctx.log("ran two");
      },
    },
  ],
});

let t: Awaited<ReturnType<typeof makeTestApi>>;
let agentApp: ReturnType<typeof createAgentApp>;
/** While true, every agent request fails as a stopped coordinator's would (connection refused). */
let down = false;
const link = { url: "https://coordinator.test", fingerprint: "unused", certPem: "unused" };
const client = (credential: string | null) =>
  new CoordinatorClient(link, credential, (url, init) =>
    down
      ? Promise.reject(new TypeError("Unable to connect"))
      : // An answer that comes after the coordinator went away never reaches the agent.
        Promise.resolve(agentApp.request(url, init)).then((r) =>
          down ? Promise.reject(new TypeError("connection reset")) : r,
        ),
  );
let hostA: { hostId: string; credential: string };
let hostB: { hostId: string; credential: string };

beforeAll(async () => {
  t = await makeTestApi({ extraJobs: [probe], config: ConfigSchema.parse({ role: "coordinator" }) });
  runs = join(t.root, "runs");
  appendFileSync(runs, "");
  t.deps.fleet.endpoint = { url: link.url, fingerprint: Array(32).fill("02").join(":") };
  agentApp = createAgentApp(t.deps);
  const join_ = (name: string) => {
    const token = t.deps.fleet.createJoinToken({ name }).token;
    return client(null).post<{ hostId: string; credential: string }>("/join", {
      token,
      name,
      inventory: AGENT_INVENTORY,
    });
  };
  hostA = await join_("late-a");
  hostB = await join_("late-b");
});
afterAll(() => t.cleanup());

const enqueue = (key: string, hostId: string) =>
  t.deps.jobs.queue.enqueue({
    kind: probe.kind,
    params: { key },
    lockKey: key,
    target: key,
    steps: probe.steps.map((s) => ({ name: s.name, title: s.title })),
    createdBy: "test",
    hostId,
  });
/** The coordinator's sweeper after the lease ran out: the job goes back to the queue. */
const expireLease = (jobId: string) => {
  t.deps.db
    .update(jobs)
    .set({ leaseExpiresAt: new Date(Date.now() - 1_000).toISOString() })
    .where(eq(jobs.id, jobId))
    .run();
  expect(t.deps.jobs.queue.recover()).toBe(1);
};
const post = async (path: string, body: unknown, credential: string) => {
  const r = await agentApp.request(`/api/v1/agent${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${credential}` },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};
const lease = async (owner: string, credential = hostA.credential) => {
  const r = await post("/jobs/lease", { owner, leaseMs: 30_000, waitMs: 0 }, credential);
  expect(r.status).toBe(200);
  return r.body as { job: { id: string; attempts: number } };
};
const logOf = (jobId: string) => t.deps.jobs.logs.read(jobId, 0).text;
const lateReport = (jobId: string, owner: string, attempt: number) => ({
  jobId,
  owner,
  attempt,
  steps: [
    { idx: 0, patch: { status: "done", finishedAt: "2026-12-05T10:00:00.000Z", durationMs: 5 } },
    { idx: 1, patch: { status: "done", finishedAt: "2026-12-05T10:00:01.000Z", durationMs: 5 } },
  ],
  lines: ["2026-12-05T10:00:00.500Z ran two, while nobody listened"],
  outcome: { status: "succeeded", result: { ok: true } },
});

describe("the late-finish route", () => {
  test("requeued after its lease expired, not leased since: the agent's report is how it ran", async () => {
    const job = enqueue("late-route-1", hostA.hostId);
    const owner = `${hostA.hostId}:gone`;
    expect((await lease(owner)).job).toMatchObject({ id: job.id, attempts: 1 });
    expireLease(job.id);
    expect(t.deps.jobs.queue.row(job.id).status).toBe("queued");
    const r = await post("/jobs/late-finish", lateReport(job.id, owner, 1), hostA.credential);
    expect(r).toEqual({ status: 200, body: { take: true } });
    const view = t.deps.jobs.queue.view(job.id);
    expect(view).toMatchObject({ status: "succeeded", result: { ok: true }, error: null });
    expect(view.steps.map((s) => s.status)).toEqual(["done", "done"]);
    expect(t.deps.jobs.queue.row(job.id).leaseOwner).toBeNull();
    expect(logOf(job.id)).toContain("ran two, while nobody listened");
    expect(logOf(job.id)).toContain("host late-a ran the job while the coordinator was away");
    // Sent again (an answer lost on the way): the job has ended, nothing changes.
    const again = await post("/jobs/late-finish", lateReport(job.id, owner, 1), hostA.credential);
    expect(again.body).toEqual({ take: false, why: "the job had already ended here (succeeded)" });
    expect(t.deps.jobs.queue.row(job.id).status).toBe("succeeded");
  });

  test("leased again since: the coordinator's run stands, the report goes to the job log", async () => {
    const job = enqueue("late-route-2", hostA.hostId);
    const first = `${hostA.hostId}:first`;
    await lease(first);
    expireLease(job.id);
    const second = `${hostA.hostId}:second`;
    expect((await lease(second)).job).toMatchObject({ id: job.id, attempts: 2 });
    const r = await post(
      "/jobs/late-finish",
      { ...lateReport(job.id, first, 1), outcome: { status: "failed", error: "boom" } },
      hostA.credential,
    );
    expect(r.body).toEqual({ take: false, why: `the job is leased to ${second}` });
    expect(t.deps.jobs.queue.row(job.id)).toMatchObject({ status: "running", leaseOwner: second, error: null });
    expect(t.deps.jobs.queue.view(job.id).steps.map((s) => s.status)).toEqual(["pending", "pending"]);
    expect(logOf(job.id)).toContain(
      `late report from host late-a not taken (the job is leased to ${second}): it says the job failed: boom`,
    );
    await post(
      `/jobs/${job.id}/finish`,
      { owner: second, outcome: { status: "succeeded", result: null } },
      hostA.credential,
    );
  });

  test("cancelled here meanwhile: stays cancelled", async () => {
    const job = enqueue("late-route-3", hostA.hostId);
    const owner = `${hostA.hostId}:gone`;
    await lease(owner);
    expireLease(job.id);
    t.deps.jobs.queue.cancel(job.id);
    const r = await post("/jobs/late-finish", lateReport(job.id, owner, 1), hostA.credential);
    expect(r.body).toEqual({ take: false, why: "the job had already ended here (cancelled)" });
    expect(t.deps.jobs.queue.row(job.id).status).toBe("cancelled");
  });

  test("another host's job, or an owner of another host: refused, nothing written", async () => {
    const job = enqueue("late-route-4", hostA.hostId);
    const owner = `${hostA.hostId}:gone`;
    await lease(owner);
    expireLease(job.id);
    const logBefore = logOf(job.id);
    const asB = await post("/jobs/late-finish", lateReport(job.id, `${hostB.hostId}:x`, 1), hostB.credential);
    expect(asB.status).toBe(403);
    const bOwnerOnA = await post("/jobs/late-finish", lateReport(job.id, `${hostB.hostId}:x`, 1), hostA.credential);
    expect(bOwnerOnA.status).toBe(403);
    expect(t.deps.jobs.queue.row(job.id)).toMatchObject({ status: "queued", error: null });
    expect(logOf(job.id)).toBe(logBefore);
    t.deps.jobs.queue.cancel(job.id);
  });
});

describe("a real Agent runner whose coordinator goes away mid-job", () => {
  test("finishes the job, keeps the finish on disk, hands it over when the coordinator is back: run once", async () => {
    gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const job = enqueue("late-run", hostA.hostId);
    const outbox = new LeasedOutbox({ dataDir: join(t.root, "agent-a") });
    const agent = new Agent({
      identity: { hostId: hostA.hostId, owner: `${hostA.hostId}:runner` },
      channel: new HttpJobChannel(client(hostA.credential), 200, null, null, outbox),
      registry: t.deps.jobs.registry,
      deps: { db: t.deps.db, config: t.deps.config, paths: t.deps.paths, box: t.deps.box },
      pollMs: 50,
      heartbeatMs: 200,
    });
    agent.start();
    try {
      await until("step one to start", async () => readFileSync(runs, "utf8").includes("late-run one"), 30_000);
      down = true;
      release();
      await until("the finish to wait in the outbox", async () => outbox.pending().includes(job.id), 30_000);
      // The coordinator knows nothing of it: the job is still running under the agent's lease there.
      expect(t.deps.jobs.queue.row(job.id)).toMatchObject({ status: "running", attempts: 1 });
      expireLease(job.id);
      down = false;
      await until(
        "the job to end on the coordinator",
        async () => TERMINAL.has(t.deps.jobs.queue.row(job.id).status),
        30_000,
      );
    } finally {
      down = false;
      await agent.stop(5_000);
    }
    const view = t.deps.jobs.queue.view(job.id);
    expect(view.status).toBe("succeeded");
    expect(view.steps.map((s) => s.status)).toEqual(["done", "done"]);
    // Once: not run again after the coordinator requeued it.
    expect(readFileSync(runs, "utf8").match(/late-run (one|two)/g)).toEqual(["late-run one", "late-run two"]);
    expect(outbox.pending()).toEqual([]);
    // The lines logged while it was away reached the job log with the report.
    expect(logOf(job.id)).toContain("ran two");
    expect(logOf(job.id)).toContain("its report arrived late and is taken: succeeded");
  });
});

describe("the channel", () => {
  /** Its finish lands on disk while a lease request is on its way: the lease's look finds nothing yet. */
  class AppearsDuringLease extends LeasedOutbox {
    hidden = false;
    override pending(): string[] {
      if (!this.hidden) return super.pending();
      this.hidden = false;
      return [];
    }
  }

  test("a lease that returns a job whose finish waits here sends the finish under that lease instead of running it", async () => {
    const job = enqueue("late-chan", hostA.hostId);
    const store = new AppearsDuringLease({ dataDir: join(t.root, "agent-chan") });
    const channel = new HttpJobChannel(client(hostA.credential), 0, null, null, store);
    const agent = { hostId: hostA.hostId, owner: `${hostA.hostId}:chan` };
    expect((await channel.lease(agent, 30_000))?.job.id).toBe(job.id);
    down = true;
    try {
      await channel.step(job.id, agent.owner, 0, { status: "done", finishedAt: "2026-12-05T10:00:00.000Z" });
      await channel.log(job.id, agent.owner, ["said while away"]);
      await channel.step(job.id, agent.owner, 1, { status: "done", finishedAt: "2026-12-05T10:00:01.000Z" });
      await channel.finish(job.id, agent.owner, { status: "succeeded", result: null });
    } finally {
      down = false;
    }
    expect(store.pending()).toEqual([job.id]);
    expect(store.read(job.id)).toMatchObject({ attempt: 1, lines: ["said while away"] });
    expireLease(job.id);
    store.hidden = true;
    // Leased again to this same agent: the finish goes under the new lease, nothing runs.
    expect(await channel.lease(agent, 30_000)).toBeNull();
    const view = t.deps.jobs.queue.view(job.id);
    expect(view.status).toBe("succeeded");
    expect(view.steps.map((s) => s.status)).toEqual(["done", "done"]);
    expect(t.deps.jobs.queue.row(job.id).attempts).toBe(2);
    expect(store.pending()).toEqual([]);
    expect(logOf(job.id)).toContain("said while away");
  });

  test("a refusal (4xx) still stops the job: only an absent coordinator is waited for", async () => {
    const job = enqueue("late-chan-2", hostA.hostId);
    const store = new LeasedOutbox({ dataDir: join(t.root, "agent-chan-2") });
    const channel = new HttpJobChannel(client(hostA.credential), 0, null, null, store);
    const owner = `${hostA.hostId}:chan-2`;
    expect((await channel.lease({ hostId: hostA.hostId, owner }, 30_000))?.job.id).toBe(job.id);
    // Another owner holds it now (the lease expired and it went elsewhere): 409, the run stops.
    expireLease(job.id);
    await lease(`${hostA.hostId}:other`);
    await expect(channel.step(job.id, owner, 0, { status: "running" })).rejects.toThrow(/no longer leased/);
    await expect(channel.finish(job.id, owner, { status: "succeeded", result: null })).rejects.toThrow(
      /no longer leased/,
    );
    expect(store.pending()).toEqual([]);
    const other = { owner: `${hostA.hostId}:other`, outcome: { status: "succeeded", result: null } };
    expect((await post(`/jobs/${job.id}/finish`, other, hostA.credential)).status).toBe(200);
  });
});
