/**
 * An agent's finish of a leased job, sent after the coordinator was away (src/jobs/http-channel.ts
 * keeps it until then). Its lease has usually expired and the sweeper has put the job back in the
 * queue; the agent's report of how the job ran is still the truth as long as nobody leased the job
 * since — taking it then means the job does not run a second time. Otherwise the coordinator's own
 * outcome (another run, an end it decided) stands, and the late report only goes to the job log.
 */
import type { CoordinatorDeps } from "../deps";
import { Forbidden } from "../errors";
import type { JobOutcome, JobRow } from "../jobs/queue";
import type { HostRow } from "./hosts";
import { applyAgentChanges } from "./mirror-apply";
import type { LateFinish } from "./schema";

export type LateDecision = { take: true } | { take: false; why: string };

/** Whether the job, as the coordinator has it now, is still the one the report's lease ran. */
export function lateFinishDecision(
  job: Pick<JobRow, "status" | "leaseOwner" | "attempts">,
  report: Pick<LateFinish, "owner" | "attempt">,
): LateDecision {
  if (job.status !== "queued" && job.status !== "running")
    return { take: false, why: `the job had already ended here (${job.status})` };
  // Owners are per agent process: a lease held by the reporter is its own, whichever attempt
  // (leased again to it while the answer was lost on the way).
  if (job.status === "running")
    return job.leaseOwner === report.owner
      ? { take: true }
      : { take: false, why: `the job is leased to ${job.leaseOwner}` };
  // Requeued: still the reporter's unless a lease came between.
  return job.attempts === report.attempt
    ? { take: true }
    : { take: false, why: `the job was leased again since (attempt ${job.attempts}, the report's ${report.attempt})` };
}

const outcomeText = (o: JobOutcome) => (o.status === "succeeded" ? "succeeded" : `${o.status}: ${o.error}`);

/**
 * Takes the report as how the job ran, or notes it in the job log and keeps the coordinator's
 * outcome. A job of another host is refused (nothing written); so is the report whose state
 * changes the host has no authority for (applyAgentChanges throws before anything is stored).
 */
export function takeLateFinish(
  deps: Pick<CoordinatorDeps, "db" | "box" | "jobs">,
  host: Pick<HostRow, "id" | "name">,
  report: Omit<LateFinish, "secrets">,
): LateDecision {
  const { db, box, jobs } = deps;
  let decision: LateDecision = { take: false, why: "not decided" };
  db.$client.transaction(() => {
    const job = jobs.queue.row(report.jobId);
    if (job.hostId !== host.id || !report.owner.startsWith(`${host.id}:`))
      throw new Forbidden(`job ${report.jobId} was not leased to host ${host.name}`);
    decision = lateFinishDecision(job, report);
    if (!decision.take) {
      jobs.queue.note(
        job.id,
        `late report from host ${host.name} not taken (${decision.why}): it says the job ${outcomeText(report.outcome)}`,
      );
      return;
    }
    if (report.state) applyAgentChanges(db, box, host.id, report.state);
    jobs.queue.finishLate(
      job.id,
      report,
      `host ${host.name} ran the job while the coordinator was away; its report arrived late and is taken: ${outcomeText(report.outcome)}`,
    );
  })();
  return decision;
}
