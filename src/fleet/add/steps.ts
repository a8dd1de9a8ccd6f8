/**
 * A run of named steps, each timed and reported; a step registers how to undo what it is about
 * to change BEFORE changing it, so a failure (in any step, or half way through one) undoes the
 * earlier steps and its own partial work, newest first, and says which step failed.
 */
import { AppError } from "../../errors";

export type StepEvent =
  | { kind: "start"; index: number; total: number; step: string }
  | { kind: "done"; index: number; total: number; step: string; ms: number; detail: string }
  | { kind: "failed"; index: number; total: number; step: string; ms: number; error: string }
  | { kind: "undone"; what: string; ok: boolean; error?: string };

export interface StepContext {
  /** Registers an undo for a change this step is about to make. */
  undo(what: string, fn: () => Promise<void>): void;
}

export interface Step {
  name: string;
  /** Returns a one-line detail for the report. */
  run(ctx: StepContext): Promise<string>;
}

export interface StepReport {
  step: string;
  ms: number;
  detail: string;
}

export class StepFailed extends AppError {
  override readonly code = "step_failed";
  /** The cause's exit code: a refused preflight is still a usage problem (2), not a crash. */
  override readonly exitCode: number;
  constructor(
    readonly step: string,
    readonly cause_: unknown,
    readonly undone: { what: string; ok: boolean; error?: string }[],
    readonly completed: StepReport[],
  ) {
    const why = cause_ instanceof Error ? cause_.message : String(cause_);
    const failedUndo = undone.filter((u) => !u.ok);
    super(
      `failed at step "${step}": ${why}${
        undone.length === 0
          ? ""
          : failedUndo.length === 0
            ? `\nundone: ${undone.map((u) => u.what).join("; ")}`
            : `\nNOT undone (do it by hand): ${failedUndo.map((u) => `${u.what} (${u.error})`).join("; ")}`
      }`,
      { step, undone, completed },
    );
    this.exitCode = cause_ instanceof AppError ? cause_.exitCode : 1;
  }
}

export async function runSteps(steps: Step[], onEvent: (e: StepEvent) => void): Promise<StepReport[]> {
  const undos: { what: string; fn: () => Promise<void> }[] = [];
  const ctx: StepContext = { undo: (what, fn) => undos.push({ what, fn }) };
  const done: StepReport[] = [];
  for (const [i, step] of steps.entries()) {
    const index = i + 1;
    const total = steps.length;
    onEvent({ kind: "start", index, total, step: step.name });
    const started = performance.now();
    try {
      const detail = await step.run(ctx);
      const ms = Math.round(performance.now() - started);
      done.push({ step: step.name, ms, detail });
      onEvent({ kind: "done", index, total, step: step.name, ms, detail });
    } catch (e) {
      const ms = Math.round(performance.now() - started);
      onEvent({ kind: "failed", index, total, step: step.name, ms, error: e instanceof Error ? e.message : String(e) });
      const undone: { what: string; ok: boolean; error?: string }[] = [];
      for (const u of undos.reverse()) {
        let result: { what: string; ok: boolean; error?: string };
        try {
          await u.fn();
          result = { what: u.what, ok: true };
        } catch (err) {
          result = { what: u.what, ok: false, error: err instanceof Error ? err.message : String(err) };
        }
        undone.push(result);
        onEvent({ kind: "undone", ...result });
      }
      throw new StepFailed(step.name, e, undone, done);
    }
  }
  return done;
}
