/**
 * A job kind: typed params and ordered steps. Steps must be idempotent — after a crash the
 * agent reruns the step that was interrupted — and may have an `undo` that the runner calls,
 * in reverse order, for every finished step when a later one fails.
 */
import type { z } from "zod";
import type { Deps } from "../deps";

export type StepOutput = Record<string, unknown>;

export interface StepContext<P> {
  jobId: string;
  params: P;
  deps: Deps;
  /** Outputs of the steps that finished, by step name. */
  outputs: Record<string, StepOutput>;
  /** A line for the job log (secrets are redacted on write). */
  log(line: string): void;
  /** Aborted when the job is cancelled. */
  signal: AbortSignal;
  /** 1 on the first run; more when the job resumed after a crash. */
  attempt: number;
}

export interface StepDef<P> {
  name: string;
  title: string;
  /** Skipped (recorded as such) when false for these params. */
  when?(params: P, deps: Deps): boolean;
  run(ctx: StepContext<P>): Promise<StepOutput | void>;
  undo?(ctx: StepContext<P>): Promise<void>;
  /** false: a crash during this step fails the job instead of running the step again. */
  resumable?: boolean;
  /**
   * The step only waits (for an approval, a deadline) and changes nothing while it does: a daemon
   * restarted during the wait does not use up the job's attempts, so a day-long wait survives
   * any number of restarts. The count is kept in the step's output (`waitInterruptions`).
   */
  waits?: boolean;
}

export interface JobHooks<P> {
  /** After every step succeeded; its value becomes the job's result. */
  succeeded?(ctx: StepContext<P>): Promise<StepOutput | void>;
  /** After the undo pass of a failed or cancelled job (e.g. mark the env failed with the reason). */
  failed?(ctx: StepContext<P>, error: string, cancelled: boolean): Promise<void>;
}

export interface JobDef<P> extends JobHooks<P> {
  kind: string;
  params: z.ZodType<P>;
  /** Jobs with the same lock key run one at a time, oldest first (an environment id). */
  lockKey(params: P): string | null;
  /** Human label of what the job acts on, shown in listings. */
  target(params: P): string | null;
  steps: StepDef<P>[];
  /** Runs after a crash before the job is failed for good. */
  maxAttempts?: number;
}

/** Method syntax above keeps params bivariant, so every JobDef<P> is an AnyJobDef. */
export type AnyJobDef = JobDef<unknown>;

export function defineJob<P>(def: JobDef<P>): JobDef<P> {
  const names = new Set<string>();
  for (const s of def.steps) {
    if (names.has(s.name)) throw new Error(`job ${def.kind}: duplicate step ${s.name}`);
    names.add(s.name);
  }
  return def;
}
