/**
 * Jobs that chain jobs on other hosts (env move, a clone across hosts) run on the coordinator
 * and wait for the sub-jobs they queued: one way to reach the coordinator's services from a step
 * and one way to wait.
 */
import type { CoordinatorDeps, Deps } from "../deps";
import type { StepContext } from "./define";
import { TERMINAL } from "./status";

const POLL_MS = 500;

/** The runner hands the coordinator's services to the jobs it runs there; a chain runs nowhere else. */
export function coordinatorOf(deps: Deps, kind: string): CoordinatorDeps {
  if (!("jobs" in deps && "fleet" in deps)) throw new Error(`${kind} runs on the coordinator only`);
  return deps as CoordinatorDeps;
}

/**
 * Waits for a sub-job to end; its result when it succeeded, else throws with its error. With
 * `relayFrom`, its log lines are copied into the chain's as they come, prefixed with that host,
 * so `--wait` shows the work on both hosts in one stream.
 */
export async function waitSubJob(
  ctx: Pick<StepContext<unknown>, "signal" | "log">,
  jobs: CoordinatorDeps["jobs"],
  jobId: string,
  what: string,
  relayFrom?: string,
): Promise<Record<string, unknown>> {
  let offset = 0;
  const relay = () => {
    if (relayFrom === undefined) return;
    for (;;) {
      const chunk = jobs.logs.read(jobId, offset);
      if (chunk.nextOffset === offset) return;
      offset = chunk.nextOffset;
      for (const line of chunk.text.split("\n")) if (line !== "") ctx.log(`${relayFrom}: ${line}`);
    }
  };
  for (;;) {
    const row = jobs.queue.row(jobId);
    relay();
    if (TERMINAL.has(row.status)) {
      if (row.status !== "succeeded")
        throw new Error(`${what} (job ${jobId}) ${row.status}: ${row.error ?? "no error"}`);
      ctx.log(`${what}: job ${jobId} succeeded`);
      return row.result ?? {};
    }
    if (ctx.signal.aborted) throw new Error(`cancelled while waiting for ${what} (job ${jobId})`);
    await Bun.sleep(POLL_MS);
  }
}
