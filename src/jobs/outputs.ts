/**
 * Step outputs as stored: checked against the step's schema when written and when read back, so
 * a job stored by another binary whose outputs no longer fit fails with the reason instead of
 * running on a guess.
 */
import type { z } from "zod";
import type { StepDef, StepOutput } from "./define";
import type { JobStepRow } from "./queue";

/** One sentence for what is wrong with a value, from zod's first issue (path included). */
export function outputProblem(error: z.ZodError): string {
  const [issue, ...more] = error.issues;
  if (!issue) return "does not fit";
  const path = issue.path.map(String).join(".");
  const what =
    path === ""
      ? `is not what it should be: ${issue.message}`
      : issue.code === "invalid_type" && issue.input === undefined
        ? `lacks "${path}"`
        : `has "${path}" that does not fit: ${issue.message}`;
  return more.length ? `${what} (and ${more.length} more)` : what;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What a step's run returned, checked and made storable; a step that does not fit is a bug, stated as such. */
export function outputToStore(output: StepOutput<unknown>, value: unknown): Record<string, unknown> {
  const r = output.schema.safeParse(value, { reportInput: true });
  if (!r.success) throw new Error(`step "${output.step}" returned an output that ${outputProblem(r.error)}`);
  if (!isRecord(r.data)) throw new Error(`step "${output.step}" returned an output that is not an object`);
  return r.data;
}

export interface StoredOutputs {
  /** Checked outputs of the finished steps, by step name. */
  values: Map<string, unknown>;
  /** Why the stored outputs cannot be used, or null. */
  problem: string | null;
}

/**
 * The outputs of the steps a job already finished, checked against this binary's schemas. Rows
 * that no longer line up with the steps are left to the runner, which names the mismatch.
 */
export function readStoredOutputs(
  job: { id: string; odooopsVersion: string | null },
  steps: readonly StepDef<unknown>[],
  rows: readonly JobStepRow[],
): StoredOutputs {
  const values = new Map<string, unknown>();
  for (const [idx, row] of rows.entries()) {
    const step = steps[idx];
    if (row.status !== "done" || !step?.output || step.name !== row.name) continue;
    // The runner's own count beside a waiting step's output is not the step's to describe.
    const { waitInterruptions: _count, ...own } = row.output ?? {};
    const r = step.output.schema.safeParse(step.waits ? own : (row.output ?? {}), { reportInput: true });
    if (!r.success) {
      const by = job.odooopsVersion ? `odooops ${job.odooopsVersion}` : "an older odooops";
      return {
        values,
        problem: `job ${job.id} was stored by ${by}; its step "${row.name}" output ${outputProblem(r.error)}`,
      };
    }
    values.set(row.name, r.data);
  }
  return { values, problem: null };
}

/** The typed reads of a step context over checked outputs. */
export function outputReader(values: Map<string, unknown>) {
  function outputIfDone<T>(of: StepOutput<T>): T | undefined {
    if (!values.has(of.step)) return undefined;
    // Parsed again with the reader's own schema: that is what types the value, with no cast.
    return of.schema.parse(values.get(of.step));
  }
  function output<T>(of: StepOutput<T>): T {
    if (!values.has(of.step)) throw new Error(`step "${of.step}" has no output: it did not finish`);
    return of.schema.parse(values.get(of.step));
  }
  return { output, outputIfDone };
}
