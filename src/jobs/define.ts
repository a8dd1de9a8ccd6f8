/**
 * A job kind: typed params and ordered steps. Steps must be idempotent — after a crash the
 * agent reruns the step that was interrupted — and may have an `undo` that the runner calls,
 * in reverse order, for every finished step when a later one fails.
 */
import { z } from "zod";
import type { Deps } from "../deps";

/**
 * What a step stores, named by its step: later steps, undo, the hooks and a resumed job read it
 * back typed from `schema`, and the runner checks the value against it both when the step writes
 * it and when a job stored earlier (maybe by an older binary) is resumed.
 */
export interface StepOutput<T> {
  readonly step: string;
  readonly schema: z.ZodType<T>;
}

export function stepOutput<T>(step: string, schema: z.ZodType<T>): StepOutput<T> {
  return { step, schema };
}

export interface StepContext<P> {
  jobId: string;
  params: P;
  deps: Deps;
  /** What a finished step stored; throws when that step did not finish (skipped, failed, not reached). */
  output<T>(of: StepOutput<T>): T;
  /** The same, or undefined when that step did not finish. */
  outputIfDone<T>(of: StepOutput<T>): T | undefined;
  /** A line for the job log (secrets are redacted on write). */
  log(line: string): void;
  /** Aborted when the job is cancelled. */
  signal: AbortSignal;
  /** 1 on the first run; more when the job resumed after a crash. */
  attempt: number;
}

interface StepBody<P> {
  title: string;
  /** Skipped (recorded as such) when false for these params. */
  when?(params: P, deps: Deps): boolean;
  undo?(ctx: StepContext<P>): Promise<void>;
  /** false: a crash during this step fails the job instead of running the step again. */
  resumable?: boolean;
  /**
   * The step only waits (for an approval, a deadline) and changes nothing while it does: a daemon
   * restarted during the wait does not use up the job's attempts, so a day-long wait survives
   * any number of restarts. The runner keeps the count beside the step's output (`waitInterruptions`).
   */
  waits?: boolean;
}

/** A step that stores nothing. */
export interface PlainStep<P> extends StepBody<P> {
  name: string;
  output?: undefined;
  run(ctx: StepContext<P>): Promise<void>;
}

/** Only `storingStep` sets it: a step literal cannot declare an output without the check of `run`'s type. */
const built: unique symbol = Symbol("storingStep");

/** A step whose value is stored as its declared output (build one with `storingStep`). */
export interface StoringStep<P, T> extends StepBody<P> {
  name: string;
  output: StepOutput<T>;
  run(ctx: StepContext<P>): Promise<T>;
  readonly [built]: true;
}

export type StepDef<P> = PlainStep<P> | StoringStep<P, unknown>;

/** A step named after its output, so `run` must return what the output's schema describes. */
export function storingStep<P, T>(
  output: StepOutput<T>,
  body: StepBody<P> & { run(ctx: StepContext<P>): Promise<T> },
): StoringStep<P, T> {
  return { ...body, name: output.step, output, [built]: true };
}

export interface JobHooks<P> {
  /** After every step succeeded; its value becomes the job's result. */
  succeeded?(ctx: StepContext<P>): Promise<Record<string, unknown> | void>;
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

/** The params every job about one environment carries: its id (the lock) and its slug (how it is listed). */
export const EnvJobTarget = z.object({ envId: z.string().min(1), slug: z.string().min(1) });

/** Lock and target of a job about one environment: one such job at a time per env. */
export const onEnv = {
  lockKey: (p: { envId: string }) => p.envId,
  target: (p: { slug: string }) => p.slug,
};

export function defineJob<P>(def: JobDef<P>): JobDef<P> {
  const names = new Set<string>();
  for (const s of def.steps) {
    if (names.has(s.name)) throw new Error(`job ${def.kind}: duplicate step ${s.name}`);
    names.add(s.name);
    if (s.output && s.output.step !== s.name)
      throw new Error(`job ${def.kind}: step ${s.name} declares the output of step ${s.output.step}`);
  }
  return def;
}
