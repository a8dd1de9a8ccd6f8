import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { run } from "../../src/exec/run";
import { defineJob, type StepContext, stepOutput, storingStep } from "../../src/jobs/define";
import { LeaseLost } from "../../src/jobs/queue";
import { runJob } from "../../src/jobs/runner";
import { makeJobEngine, probeJob } from "../support/jobs";

let engine: ReturnType<typeof makeJobEngine> | null = null;
afterEach(async () => {
  await engine?.cleanup();
  engine = null;
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("job engine", () => {
  test("runs steps in order, records durations and the result, writes a redacted log", async () => {
    const record: string[] = [];
    const probe = probeJob(record);
    engine = makeJobEngine([probe]);
    engine.startAgent();
    const queued = engine.jobs.enqueue(probe, { key: "env-a" }, "admin");
    expect(queued.status).toBe("queued");
    expect(queued.steps.map((s) => [s.name, s.status])).toEqual([
      ["one", "pending"],
      ["two", "pending"],
      ["three", "pending"],
    ]);
    const done = await engine.waitFor(queued.id);
    expect(done.status).toBe("succeeded");
    expect(done.result).toEqual({ steps: ["one", "two", "three"] });
    expect(done.steps.every((s) => s.status === "done" && s.durationMs !== null)).toBe(true);
    expect(record).toEqual(["run one", "run two", "run three"]);
    const log = readFileSync(engine.jobs.logs.file(queued.id), "utf8");
    expect(log).toContain("▶ Step two");
    expect(log).toContain("password=***");
    expect(log).not.toContain("hunter22");
  });

  test("a failing step undoes what was done, in reverse, and fails the job with the reason", async () => {
    const record: string[] = [];
    const probe = probeJob(record);
    engine = makeJobEngine([probe]);
    engine.startAgent();
    const job = await engine.waitFor(engine.jobs.enqueue(probe, { key: "env-a", failAt: "three" }, "admin").id);
    expect(job.status).toBe("failed");
    expect(job.error).toBe("three broke");
    expect(record).toEqual([
      "run one",
      "run two",
      "run three",
      "undo three",
      "undo two",
      "undo one",
      "failed three broke",
    ]);
    expect(job.steps.map((s) => s.status)).toEqual(["undone", "undone", "failed"]);
    expect(job.steps[2]!.error).toBe("three broke");
  });

  test("a failed command: the step and the job say its sentence and meaningful line; the log keeps the command and output", async () => {
    const failing = defineJob({
      kind: "failing-command",
      params: z.object({ key: z.string() }),
      lockKey: (p) => p.key,
      target: (p) => p.key,
      steps: [
        {
          name: "start",
          title: "Starting Odoo",
          async run() {
            const script =
              'echo "docker: Error response from daemon: Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available" >&2; echo >&2; echo "Run \'docker run --help\' for more information" >&2; exit 125';
            await run({ argv: ["sh", "-c", script, "--label=odooops.long-argument"] });
          },
        },
      ],
    });
    engine = makeJobEngine([failing]);
    engine.startAgent();
    const job = await engine.waitFor(engine.jobs.enqueue(failing, { key: "env-c" }, "admin").id);
    const reason = "sh exited with 125: Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available";
    expect(job.error).toBe(reason);
    expect(job.steps[0]!.error).toBe(reason);
    const log = readFileSync(engine.jobs.logs.file(job.id), "utf8");
    expect(log).toContain(`✗ Starting Odoo: ${reason}\n`);
    expect(log).toContain("command exited with 125: sh -c ");
    expect(log).toContain("--label=odooops.long-argument");
    expect(log).toContain("Run 'docker run --help' for more information");
  });

  test("one job per lock key at a time, FIFO; the waiting job says what holds the lock", async () => {
    const record: string[] = [];
    const hold = deferred();
    const probe = probeJob(record, new Map([["env-a", hold.promise]]));
    engine = makeJobEngine([probe]);
    engine.startAgent();
    const first = engine.jobs.enqueue(probe, { key: "env-a", holdAt: "two" }, "admin");
    const second = engine.jobs.enqueue(probe, { key: "env-a" }, "admin");
    const other = engine.jobs.enqueue(probe, { key: "env-b" }, "admin");
    expect((await engine.waitFor(other.id)).status).toBe("succeeded");
    const waiting = engine.jobs.queue.view(second.id);
    expect(waiting.status).toBe("queued");
    expect(waiting.blockedBy).toMatchObject({ id: first.id, kind: "probe", target: "env-a", status: "running" });
    hold.resolve();
    expect((await engine.waitFor(second.id)).status).toBe("succeeded");
    expect(engine.jobs.queue.view(first.id).status).toBe("succeeded");
    expect(engine.jobs.queue.view(first.id).finishedAt! <= engine.jobs.queue.view(second.id).startedAt!).toBe(true);
  });

  test("cancel: a queued job never starts; a running one aborts and undoes", async () => {
    const record: string[] = [];
    const hold = deferred();
    const probe = probeJob(record, new Map([["env-a", hold.promise]]));
    engine = makeJobEngine([probe]);
    engine.startAgent("host-1:agent-a", { heartbeatMs: 50 });
    const running = engine.jobs.enqueue(probe, { key: "env-a", holdAt: "two" }, "admin");
    const queued = engine.jobs.enqueue(probe, { key: "env-a" }, "admin");
    expect(engine.jobs.queue.cancel(queued.id).status).toBe("cancelled");
    while (engine.jobs.queue.view(running.id).steps[1]!.status !== "running") await Bun.sleep(10);
    engine.jobs.queue.cancel(running.id);
    const job = await engine.waitFor(running.id);
    expect(job.status).toBe("cancelled");
    expect(record).toEqual(["run one", "run two", "undo two", "undo one", "failed cancelled"]);
    expect(engine.jobs.queue.view(queued.id).steps.every((s) => s.status === "skipped")).toBe(true);
  });

  test("a cancel told at once (the daemon's wiring) stops a running job with no heartbeat in between", async () => {
    const record: string[] = [];
    const hold = deferred();
    const probe = probeJob(record, new Map([["env-a", hold.promise]]));
    engine = makeJobEngine([probe]);
    // No heartbeat within the test's wait: only the event can stop the job.
    const agent = engine.startAgent("host-1:agent-a", { heartbeatMs: 600_000 });
    const unsubscribe = engine.jobs.events.onCancelRequested((id) => agent.cancel(id));
    try {
      const running = engine.jobs.enqueue(probe, { key: "env-a", holdAt: "two" }, "admin");
      while (engine.jobs.queue.view(running.id).steps[1]!.status !== "running") await Bun.sleep(10);
      engine.jobs.queue.cancel(running.id);
      const job = await engine.waitFor(running.id);
      expect(job.status).toBe("cancelled");
      expect(record).toEqual(["run one", "run two", "undo two", "undo one", "failed cancelled"]);
      // Another job's id, or one not running here: nothing happens.
      agent.cancel("no-such-job");
    } finally {
      unsubscribe();
    }
  });

  test("bad params are refused at enqueue and nothing is stored", () => {
    const probe = probeJob([]);
    engine = makeJobEngine([probe]);
    expect(() => engine!.jobs.enqueue(probe, { key: 42 } as never, "admin")).toThrow();
    expect(engine.jobs.queue.list({ limit: 10 })).toEqual([]);
  });

  test("an expired lease goes back to the queue and the next agent resumes after the last done step", async () => {
    const record: string[] = [];
    const probe = probeJob(record);
    engine = makeJobEngine([probe]);
    const job = engine.jobs.enqueue(probe, { key: "env-a" }, "admin");
    // A dead agent: leased, finished step one, then vanished without heartbeats.
    const leased = await engine.jobs.queue.lease({ hostId: "host-1", owner: "host-1:dead" }, 1);
    expect(leased!.job.id).toBe(job.id);
    await engine.jobs.queue.step(job.id, "host-1:dead", 0, { status: "done", output: { step: "one" }, durationMs: 1 });
    await engine.jobs.queue.step(job.id, "host-1:dead", 1, { status: "running" });
    await Bun.sleep(5);
    expect(engine.jobs.queue.recover()).toBe(1);
    await expect(engine.jobs.queue.heartbeat(job.id, "host-1:dead", 1000)).rejects.toThrow("no longer leased");
    engine.startAgent("host-1:agent-b");
    const done = await engine.waitFor(job.id);
    expect(done.status).toBe("succeeded");
    expect(record).toEqual(["run two", "run three"]);
    expect(engine.jobs.queue.row(job.id).attempts).toBe(2);
  });

  test("the event stream starts with a snapshot and ends with the terminal job event", async () => {
    const probe = probeJob([]);
    engine = makeJobEngine([probe]);
    const job = engine.jobs.enqueue(probe, { key: "env-a" }, "admin");
    const abort = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const ev of engine!.jobs.stream(job.id, abort.signal)) {
        seen.push(
          ev.type === "step"
            ? `step ${ev.step.name} ${ev.step.status}`
            : ev.type === "job"
              ? `job ${ev.status}`
              : ev.type,
        );
      }
    })();
    await Bun.sleep(20);
    engine.startAgent();
    await reading;
    expect(seen[0]).toBe("snapshot");
    expect(seen.at(-1)).toBe("job succeeded");
    expect(seen).toContain("step two running");
    expect(seen).toContain("step two done");
  });

  test("an agent that lost its lease stops at once and undoes nothing; the new owner finishes", async () => {
    const record: string[] = [];
    const hold = deferred();
    const probe = probeJob(record, new Map([["env-a", hold.promise]]));
    engine = makeJobEngine([probe]);
    engine.startAgent("host-1:slow", { heartbeatMs: 30 });
    const job = engine.jobs.enqueue(probe, { key: "env-a", holdAt: "two" }, "admin");
    while (engine.jobs.queue.view(job.id).steps[1]!.status !== "running") await Bun.sleep(10);
    // The coordinator decides the slow agent is gone (its lease looks expired) and requeues.
    engine.db.$client.run("update jobs set lease_expires_at = '2000-01-01T00:00:00.000Z' where id = ?", [job.id]);
    expect(engine.jobs.queue.recover()).toBe(1);
    engine.startAgent("host-1:new");
    while (engine.jobs.queue.row(job.id).leaseOwner !== "host-1:new") await Bun.sleep(10);
    await Bun.sleep(100);
    hold.resolve();
    const done = await engine.waitFor(job.id);
    expect(done.status).toBe("succeeded");
    expect(record.filter((r) => r.startsWith("undo") || r.startsWith("failed"))).toEqual([]);
    expect(record.filter((r) => r === "run three")).toHaveLength(1);
  });

  test("interruptions while a step waits do not use up the job's attempts; an interruption elsewhere still does", async () => {
    const record: string[] = [];
    const waiting = defineJob({
      kind: "waiting",
      params: z.object({ key: z.string(), interruptAt: z.string() }),
      lockKey: (p) => p.key,
      target: (p) => p.key,
      steps: ["wait", "apply"].map((name) =>
        storingStep(stepOutput(name, z.record(z.string(), z.literal(true))), {
          title: name,
          waits: name === "wait",
          async run(ctx: StepContext<{ key: string; interruptAt: string }>) {
            record.push(`${ctx.params.key} ${name} ${ctx.attempt}`);
            // Attempts 1-4 "die" here: the step never ends and the lease is taken from them.
            if (name === ctx.params.interruptAt && ctx.attempt < 5)
              await new Promise((_r, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
            return { [name]: true as const };
          },
        }),
      ),
    });
    engine = makeJobEngine([waiting]);
    const runDying = async (jobId: string, attempt: number) => {
      const owner = `host-1:dies-${jobId}-${attempt}`;
      const leased = await engine!.jobs.queue.lease({ hostId: "host-1", owner }, 60_000);
      expect(leased?.job.attempts).toBe(attempt);
      const dies = new AbortController();
      const run = runJob({
        def: waiting,
        leased: leased!,
        channel: engine!.jobs.queue,
        owner,
        deps: engine!.deps,
        signal: dies.signal,
      });
      while (
        !record.includes(
          `${leased!.job.target} ${leased!.steps.find((s) => s.status !== "done")?.name ?? "?"} ${attempt}`,
        )
      )
        await Bun.sleep(5);
      // The daemon died: its lease is gone (recovered) and what it ran stops where it stood.
      engine!.db.$client.run("UPDATE jobs SET lease_expires_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", [jobId]);
      expect(engine!.jobs.queue.recover()).toBe(1);
      dies.abort(new LeaseLost("lease lost"));
      await run;
    };

    const applied = engine.jobs.enqueue(waiting, { key: "env-a", interruptAt: "apply" }, "admin");
    for (let attempt = 1; attempt <= 3; attempt++) await runDying(applied.id, attempt);
    const last = await engine.jobs.queue.lease({ hostId: "host-1", owner: "host-1:last" }, 60_000);
    await runJob({
      def: waiting,
      leased: last!,
      channel: engine.jobs.queue,
      owner: "host-1:last",
      deps: engine.deps,
      signal: new AbortController().signal,
    });
    expect(engine.jobs.queue.view(applied.id)).toMatchObject({
      status: "failed",
      error: "interrupted 3 times; giving up",
    });

    const waited = engine.jobs.enqueue(waiting, { key: "env-w", interruptAt: "wait" }, "admin");
    for (let attempt = 1; attempt <= 4; attempt++) await runDying(waited.id, attempt);
    engine.startAgent();
    const done = await engine.waitFor(waited.id);
    expect([done.status, done.error]).toEqual(["succeeded", null]);
    expect(engine.db.$client.query("SELECT output FROM job_steps WHERE job_id = ? AND idx = 0").get(waited.id)).toEqual(
      { output: JSON.stringify({ wait: true, waitInterruptions: 4 }) },
    );
    expect(record.filter((r) => r.startsWith("env-w wait"))).toEqual([
      "env-w wait 1",
      "env-w wait 2",
      "env-w wait 3",
      "env-w wait 4",
      "env-w wait 5",
    ]);
  });
});
