/**
 * Runs one leased job: its steps in order, skipping those already done (a resumed job), then
 * either the success hook or the undo pass in reverse order and the failure hook.
 */
import { errorText } from "../errors";
import { readableReason } from "../exec/reason";
import { Log } from "../log";
import { now } from "../state/columns";
import type { AnyJobDef, StepContext } from "./define";
import type { Deps } from "../deps";
import { outputReader, outputToStore, readStoredOutputs } from "./outputs";
import { type JobChannel, type LeasedJob, LeaseLost } from "./queue";
import type { JobSpan } from "./spans";
import { jobTracer } from "./tracing";

const log = Log.create("jobs");

export interface RunOptions {
  def: AnyJobDef;
  leased: LeasedJob;
  channel: JobChannel;
  owner: string;
  deps: Deps;
  signal: AbortSignal;
}

function lostLease(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof LeaseLost;
}

function waitInterruptionsOf(output: Record<string, unknown> | null | undefined): number {
  const n = output?.waitInterruptions;
  return typeof n === "number" ? n : 0;
}

/**
 * Interruptions that happened while a `waits` step was waiting: every earlier one is in the step
 * rows' output; this attempt's, when the interrupted step is such a step, is recorded now.
 */
async function countWaitInterruptions(opts: RunOptions): Promise<number> {
  const { def, leased, channel, owner } = opts;
  let total = leased.steps.reduce((n, row) => n + waitInterruptionsOf(row.output), 0);
  if (leased.job.attempts <= 1) return total;
  const idx = leased.steps.findIndex((row) => row.status === "running");
  const row = leased.steps[idx];
  if (row && def.steps[idx]?.waits) {
    row.output = { ...(row.output ?? {}), waitInterruptions: waitInterruptionsOf(row.output) + 1 };
    await channel.step(leased.job.id, owner, idx, { status: "running", output: row.output });
    total++;
  }
  return total;
}

interface Outcome {
  status: "succeeded" | "failed" | "cancelled" | "lease lost";
  error?: string;
}

/** Runs the job inside its trace (when configured): the job span ends however the run ends. */
export async function runJob(opts: RunOptions): Promise<void> {
  const tracer = await jobTracer(opts.deps.config.telemetry);
  const span = tracer.start(opts.leased.job);
  let outcome: Outcome = { status: "failed" };
  try {
    outcome = await runSteps(opts, span);
  } catch (err) {
    outcome = { status: "failed", error: `internal: ${errorText(err)}` };
    throw err;
  } finally {
    span.end(outcome.status, outcome.error);
    // Exported in the background: a slow or absent collector never holds a job up.
    tracer.flush().catch(() => undefined);
  }
}

async function runSteps(opts: RunOptions, span: JobSpan): Promise<Outcome> {
  const { def, leased, channel, owner, deps, signal } = opts;
  const { job, steps } = leased;
  const params = def.params.parse(job.params);
  const stored = readStoredOutputs(job, def.steps, steps);
  const write = (line: string) => {
    channel.log(job.id, owner, [`${now()} ${line}`]).catch(() => undefined);
  };
  const ctx: StepContext<unknown> = {
    jobId: job.id,
    params,
    deps,
    ...outputReader(stored.values),
    log: write,
    signal,
    attempt: job.attempts,
  };
  // First line of this attempt, so a log line leads to its trace in the collector.
  if (span.traceId) write(`trace ${span.traceId}`);
  if (job.attempts > 1) write(`resuming (attempt ${job.attempts}) after the last finished step`);

  const waitInterruptions = await countWaitInterruptions(opts);
  const interruptions = job.attempts - 1 - waitInterruptions;
  // Outputs that do not fit this binary's schemas stop the job before any step runs on them.
  let failure: string | null =
    stored.problem ??
    (interruptions >= (def.maxAttempts ?? 3) ? `interrupted ${interruptions} times; giving up` : null);
  let cancelled = false;
  /** Steps that finished, in this run or an earlier one. */
  const finished = new Set(steps.filter((row) => row.status === "done").map((row) => row.name));
  /** Steps that may have created something: finished ones and the one that failed midway. */
  const touched = new Set(finished);

  for (const [idx, step] of def.steps.entries()) {
    if (failure) break;
    const row = steps[idx];
    if (!row || row.name !== step.name) {
      failure = `step ${idx} of job ${job.id} is ${row?.name ?? "missing"}, expected ${step.name} (daemon upgraded mid-job?)`;
      break;
    }
    if (row.status === "done" || row.status === "skipped") continue;
    if (row.status === "running" && step.resumable === false) {
      failure = `interrupted during "${step.title}", which is not safe to repeat`;
      touched.add(step.name);
      await channel.step(job.id, owner, idx, { status: "failed", error: failure, finishedAt: now() });
      break;
    }
    if (lostLease(signal)) return { status: "lease lost" };
    if (signal.aborted) {
      cancelled = true;
      failure = "cancelled";
      break;
    }
    if (step.when && !step.when(params, deps)) {
      await channel.step(job.id, owner, idx, { status: "skipped" });
      continue;
    }
    const started = Date.now();
    await channel.step(job.id, owner, idx, {
      status: "running",
      startedAt: new Date(started).toISOString(),
      error: null,
      finishedAt: null,
      durationMs: null,
    });
    write(`▶ ${step.title}`);
    const stepSpan = span.step(step.name, step.title, idx);
    touched.add(step.name);
    try {
      let ran: Record<string, unknown> | null = null;
      if (step.output) ran = outputToStore(step.output, await step.run(ctx));
      else await step.run(ctx);
      const waited = waitInterruptionsOf(row.output);
      const output = step.waits && waited > 0 ? { ...ran, waitInterruptions: waited } : ran;
      if (ran) stored.values.set(step.name, ran);
      finished.add(step.name);
      const durationMs = Date.now() - started;
      await channel.step(job.id, owner, idx, { status: "done", output, finishedAt: now(), durationMs });
      stepSpan.end();
      write(`✓ ${step.title} (${durationMs} ms)`);
    } catch (err) {
      stepSpan.end(readableReason(err));
      // The job belongs to another agent now: leave everything to it, undo nothing.
      if (lostLease(signal)) return { status: "lease lost" };
      cancelled = signal.aborted;
      failure = cancelled ? "cancelled" : readableReason(err);
      const durationMs = Date.now() - started;
      await channel.step(job.id, owner, idx, { status: "failed", error: failure, finishedAt: now(), durationMs });
      write(`✗ ${step.title}: ${failure}`);
      // The status keeps one line; the log keeps the whole command and output behind it.
      if (!cancelled && errorText(err) !== failure) for (const line of errorText(err).split("\n")) write(line);
    }
  }

  if (!failure) {
    const result =
      (await def.succeeded?.(ctx).catch((err: unknown) => {
        failure = `finishing: ${readableReason(err)}`;
        for (const line of `finishing failed: ${errorText(err)}`.split("\n")) write(line);
      })) ?? null;
    if (!failure) {
      await channel.finish(job.id, owner, { status: "succeeded", result });
      return { status: "succeeded" };
    }
  }
  if (stored.problem) write(stored.problem);
  await undoTouched(opts, ctx, touched, finished);
  const reason = failure ?? "failed";
  await def.failed?.(ctx, reason, cancelled).catch((err: unknown) => write(`failure hook: ${errorText(err)}`));
  const status = cancelled ? "cancelled" : "failed";
  await channel.finish(job.id, owner, { status, error: reason });
  return { status, error: reason };
}

/** Reverse order over the touched steps (undo is idempotent); an undo error is logged and the pass goes on. */
async function undoTouched(
  opts: RunOptions,
  ctx: StepContext<unknown>,
  touched: Set<string>,
  finished: Set<string>,
): Promise<void> {
  const { def, channel, owner, leased } = opts;
  const undoCtx = { ...ctx, signal: new AbortController().signal };
  for (let idx = def.steps.length - 1; idx >= 0; idx--) {
    const step = def.steps[idx]!;
    if (!touched.has(step.name) || !step.undo) continue;
    ctx.log(`↺ undo ${step.title}`);
    try {
      await step.undo(undoCtx);
      if (finished.has(step.name)) await channel.step(leased.job.id, owner, idx, { status: "undone" });
    } catch (err) {
      log.warn("undo failed", { job: leased.job.id, step: step.name, error: errorText(err) });
      ctx.log(`undo of ${step.title} failed: ${errorText(err)}`);
    }
  }
}
