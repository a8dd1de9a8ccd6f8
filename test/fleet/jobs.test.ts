/**
 * Agents pull jobs over the agent API: the HTTP JobChannel against the real coordinator app and
 * queue (in-process requests, real state). Host scoping, owner checks, a lease lost mid-job
 * (two channel clients), long-poll, a real Agent runner, and env jobs routed to the env's host.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { projects } from "../../src/env/env.sql";
import { Agent } from "../../src/jobs/agent";
import { defineJob, type StepContext, stepOutput, storingStep } from "../../src/jobs/define";
import { HttpJobChannel } from "../../src/jobs/http-channel";
import { LeaseLost } from "../../src/jobs/queue";
import { TERMINAL } from "../../src/jobs/status";
import { type ClientCoordinator, insertEnv, startClientCoordinator } from "../support/fleet-api";

let runs: string;
const probe = defineJob<{ key: string }>({
  kind: "fleet-probe",
  params: z.object({ key: z.string() }),
  lockKey: (p) => p.key,
  target: (p) => p.key,
  steps: ["one", "two"].map((name) =>
    storingStep(stepOutput(name, z.object({ ran: z.string() })), {
      title: `Step ${name}`,
      async run(ctx: StepContext<{ key: string }>) {
        appendFileSync(runs, `${ctx.params.key} ${name}\n`);
        ctx.log(`ran ${name}`);
        return { ran: name };
      },
    }),
  ),
});

/** Runs until it is cancelled: only a cancel that reaches the agent ends it. */
const hold = defineJob<{ key: string }>({
  kind: "fleet-hold",
  params: z.object({ key: z.string() }),
  lockKey: (p) => p.key,
  target: (p) => p.key,
  steps: [
    storingStep(stepOutput("hold", z.object({})), {
      title: "Hold",
      async run(ctx: StepContext<{ key: string }>) {
        ctx.log("holding");
        await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
        throw ctx.signal.reason;
      },
    }),
  ],
});

let t: ClientCoordinator["t"];
let client: ClientCoordinator["client"];

let hostA: { hostId: string; credential: string };
let hostB: { hostId: string; credential: string };

beforeAll(async () => {
  const coordinator = await startClientCoordinator({ extraJobs: [probe, hold] });
  ({ t, client } = coordinator);
  runs = join(t.root, "runs");
  hostA = await coordinator.joinHost("host-a");
  hostB = await coordinator.joinHost("host-b");
});
afterAll(() => t.cleanup());

function enqueue(key: string, hostId: string | null) {
  return t.deps.jobs.queue.enqueue({
    kind: probe.kind,
    params: { key },
    lockKey: key,
    target: key,
    steps: probe.steps.map((s) => ({ name: s.name, title: s.title })),
    createdBy: "test",
    hostId,
  });
}

const channel = (credential: string, waitMs = 0) => new HttpJobChannel(client(credential), waitMs);

describe("leasing over HTTP", () => {
  test("an agent gets only its own host's jobs: never another host's, never the coordinator's", async () => {
    const forA = enqueue("k-a", hostA.hostId);
    const local = enqueue("k-local", null);
    const b = channel(hostB.credential);
    expect(await b.lease({ hostId: hostB.hostId, owner: `${hostB.hostId}:1` }, 30_000)).toBeNull();
    const a = channel(hostA.credential);
    // The host id the agent claims is ignored: the credential decides.
    const leased = await a.lease({ hostId: hostB.hostId, owner: `${hostA.hostId}:1` }, 30_000);
    expect(leased?.job.id).toBe(forA.id);
    expect(await a.lease({ hostId: hostA.hostId, owner: `${hostA.hostId}:1` }, 30_000)).toBeNull();
    expect(t.deps.jobs.queue.row(local.id).status).toBe("queued");
    await a.finish(forA.id, `${hostA.hostId}:1`, { status: "succeeded", result: null });
    t.deps.jobs.queue.cancel(local.id);
  });

  test("an owner of another host is refused (403) and the job is untouched", async () => {
    const job = enqueue("k-spoof", hostB.hostId);
    const a = channel(hostA.credential);
    await expect(a.lease({ hostId: hostB.hostId, owner: `${hostB.hostId}:evil` }, 30_000)).rejects.toThrow(
      /must start with this agent's host id/,
    );
    const b = channel(hostB.credential);
    const leased = await b.lease({ hostId: hostB.hostId, owner: `${hostB.hostId}:1` }, 30_000);
    expect(leased?.job.id).toBe(job.id);
    await expect(a.finish(job.id, `${hostB.hostId}:1`, { status: "failed", error: "x" })).rejects.toThrow(/host id/);
    expect(t.deps.jobs.queue.row(job.id).status).toBe("running");
    await b.finish(job.id, `${hostB.hostId}:1`, { status: "succeeded", result: null });
  });

  test("a lease lost mid-job: the old holder's heartbeat, steps, logs and finish are refused", async () => {
    const job = enqueue("k-lost", hostA.hostId);
    const first = channel(hostA.credential);
    const second = channel(hostA.credential);
    const o1 = `${hostA.hostId}:first`;
    const o2 = `${hostA.hostId}:second`;
    expect((await first.lease({ hostId: hostA.hostId, owner: o1 }, 1_000))?.job.id).toBe(job.id);
    await first.step(job.id, o1, 0, { status: "running", startedAt: new Date().toISOString() });
    // The first holder goes quiet past its lease; the coordinator's sweep requeues the job.
    await Bun.sleep(1_100);
    expect(t.deps.jobs.queue.recover()).toBe(1);
    const again = await second.lease({ hostId: hostA.hostId, owner: o2 }, 30_000);
    expect(again?.job.id).toBe(job.id);
    expect(again?.job.attempts).toBe(2);
    await expect(first.heartbeat(job.id, o1, 30_000)).rejects.toBeInstanceOf(LeaseLost);
    await expect(first.step(job.id, o1, 1, { status: "done" })).rejects.toBeInstanceOf(LeaseLost);
    await expect(first.log(job.id, o1, ["late line"])).rejects.toBeInstanceOf(LeaseLost);
    await expect(first.finish(job.id, o1, { status: "failed", error: "stale" })).rejects.toBeInstanceOf(LeaseLost);
    expect(t.deps.jobs.queue.row(job.id)).toMatchObject({ status: "running", leaseOwner: o2 });
    expect(await second.heartbeat(job.id, o2, 30_000)).toEqual({ cancelRequested: false });
    await second.finish(job.id, o2, { status: "succeeded", result: { ok: true } });
    expect(t.deps.jobs.queue.row(job.id).status).toBe("succeeded");
    const log = t.deps.jobs.logs.read(job.id, 0);
    expect(JSON.stringify(log)).not.toContain("late line");
  });

  test("long-poll: a waiting lease answers as soon as a job for the host is queued", async () => {
    const a = channel(hostA.credential, 10_000);
    const pending = a.lease({ hostId: hostA.hostId, owner: `${hostA.hostId}:poll` }, 30_000);
    await Bun.sleep(300);
    const job = enqueue("k-poll", hostA.hostId);
    const leased = await pending;
    expect(leased?.job.id).toBe(job.id);
    await a.finish(job.id, `${hostA.hostId}:poll`, { status: "succeeded", result: null });
  });

  test("bad bodies are refused with 400 and lease nothing", async () => {
    const job = enqueue("k-bad", hostA.hostId);
    const c = client(hostA.credential);
    for (const body of [{ owner: `${hostA.hostId}:x`, leaseMs: 5 }, { owner: "", leaseMs: 30_000 }, {}]) {
      await expect(c.post("/jobs/lease", body)).rejects.toThrow();
    }
    expect(t.deps.jobs.queue.row(job.id).status).toBe("queued");
    t.deps.jobs.queue.cancel(job.id);
  });
});

describe("an Agent runner on the HTTP channel", () => {
  test("runs its host's job to the end; steps, outputs and logs land on the coordinator", async () => {
    const job = enqueue("k-run", hostA.hostId);
    const agent = new Agent({
      identity: { hostId: hostA.hostId, owner: `${hostA.hostId}:runner` },
      channel: channel(hostA.credential, 1_000),
      registry: t.deps.jobs.registry,
      deps: { db: t.deps.db, config: t.deps.config, paths: t.deps.paths, box: t.deps.box },
      pollMs: 50,
    });
    agent.start();
    try {
      const until = Date.now() + 30_000;
      while (!TERMINAL.has(t.deps.jobs.queue.row(job.id).status) && Date.now() < until) await Bun.sleep(50);
    } finally {
      await agent.stop(5_000);
    }
    const view = t.deps.jobs.queue.view(job.id);
    expect(view.status).toBe("succeeded");
    expect(view.steps.map((s) => s.status)).toEqual(["done", "done"]);
    expect(readFileSync(runs, "utf8")).toContain("k-run one\nk-run two\n");
    expect(JSON.stringify(t.deps.jobs.logs.read(job.id, 0))).toContain("ran two");
  });
});

describe("a cancel of a remote agent's job", () => {
  test("is told on its lease long-poll: the job stops though its heartbeat never comes", async () => {
    const job = t.deps.jobs.queue.enqueue({
      kind: hold.kind,
      params: { key: "k-hold" },
      lockKey: "k-hold",
      target: "k-hold",
      steps: hold.steps.map((s) => ({ name: s.name, title: s.title })),
      createdBy: "test",
      hostId: hostA.hostId,
    });
    // Long polls shorter than the stop's grace: the stopped agent leases nothing after the test.
    const http = channel(hostA.credential, 2_000);
    const agent = new Agent({
      identity: { hostId: hostA.hostId, owner: `${hostA.hostId}:canceled` },
      channel: http,
      registry: t.deps.jobs.registry,
      deps: { db: t.deps.db, config: t.deps.config, paths: t.deps.paths, box: t.deps.box },
      // No heartbeat within the test: only the long-poll can tell the cancel.
      heartbeatMs: 600_000,
      pollMs: 50,
    });
    const told: string[] = [];
    http.onCancel((id) => told.push(id));
    http.onCancel((id) => agent.cancel(id));
    agent.start();
    try {
      while (t.deps.jobs.queue.view(job.id).steps[0]?.status !== "running") await Bun.sleep(20);
      // The agent is on its next lease (concurrency 4) while the job runs, or between two: a
      // cancel in between is told by the next one.
      await Bun.sleep(300);
      t.deps.jobs.queue.cancel(job.id);
      while (!TERMINAL.has(t.deps.jobs.queue.row(job.id).status)) await Bun.sleep(20);
    } finally {
      await agent.stop(5_000);
    }
    expect(t.deps.jobs.queue.row(job.id).status).toBe("cancelled");
    expect(told).toEqual([job.id]);
  }, 30_000);

  test("told once, on the next lease of the job's owner only, even when asked before that lease", async () => {
    const job = enqueue("k-told-once", hostB.hostId);
    const c = client(hostB.credential);
    const owner = `${hostB.hostId}:once`;
    const lease = (waitMs: number, as = owner) =>
      c.post("/jobs/lease", { owner: as, leaseMs: 30_000, waitMs, cancels: true });
    expect(((await lease(0)) as { job: { id: string } }).job.id).toBe(job.id);
    // Asked while no lease of this owner waits: the next one tells it at once.
    t.deps.jobs.queue.cancel(job.id);
    expect(await lease(0, `${hostB.hostId}:other`)).toBeNull();
    expect(await lease(5_000)).toEqual({ cancel: [job.id] });
    // The job has not stopped yet: not told again.
    expect(await lease(300)).toBeNull();
    await channel(hostB.credential).finish(job.id, owner, { status: "cancelled", error: "cancelled" });
  });

  test("an agent that does not say it understands cancels is never sent one", async () => {
    const job = enqueue("k-old-agent", hostB.hostId);
    const c = client(hostB.credential);
    const owner = `${hostB.hostId}:old`;
    const leased = (await c.post("/jobs/lease", { owner, leaseMs: 30_000 })) as { job: { id: string } };
    expect(leased.job.id).toBe(job.id);
    const waiting = c.post("/jobs/lease", { owner, leaseMs: 30_000, waitMs: 1_000 });
    await Bun.sleep(200);
    t.deps.jobs.queue.cancel(job.id);
    // Its wait ends with nothing: the cancel waits for the job's heartbeat.
    expect(await waiting).toBeNull();
    expect(await channel(hostB.credential).heartbeat(job.id, owner, 30_000)).toEqual({ cancelRequested: true });
    await channel(hostB.credential).finish(job.id, owner, { status: "cancelled", error: "cancelled" });
  });
});

describe("routing", () => {
  test("an env's jobs are queued for the env's host; others for the coordinator's own", () => {
    const project = t.deps.db.insert(projects).values({ name: "p-route" }).returning().get();
    const env = (name: string, hostId: string | null) => insertEnv(t.deps.db, project.id, name, hostId);
    const remote = env("on-a", hostA.hostId);
    const local = env("local", null);
    const onA = t.deps.jobs.enqueue(probe, { key: remote.id }, "test");
    const onLocal = t.deps.jobs.enqueue(probe, { key: local.id }, "test");
    expect(t.deps.jobs.queue.row(onA.id).hostId).toBe(hostA.hostId);
    expect(t.deps.jobs.queue.row(onLocal.id).hostId).toBeNull();
    t.deps.jobs.queue.cancel(onA.id);
    t.deps.jobs.queue.cancel(onLocal.id);
  });
});
