/**
 * The JobChannel of the jobs an agent starts by itself (src/daemon/agent-local.ts): the agent's
 * own queue in its own state database, plus a report in the outbox when a job ends — the job,
 * its steps and what it changed in its env's rows — for the coordinator to take when it can.
 */
import type {
  JobChannel,
  JobOutcome,
  JobStepRow,
  LeasedJob,
  AgentIdentity,
  SqliteJobQueue,
  StepPatch,
} from "../jobs/queue";
import type { MirrorLink } from "../fleet/mirror";
import type { Outbox } from "./outbox";
import type { AgentJobReport } from "../fleet/schema";

function stepReport(s: JobStepRow): AgentJobReport["steps"][number] {
  const { id: _id, jobId: _job, ...rest } = s;
  return rest;
}

export class ReportingChannel implements JobChannel {
  constructor(
    private readonly queue: SqliteJobQueue,
    private readonly changes: MirrorLink,
    private readonly outbox: Outbox,
    /** Called once a report is in the outbox: send it now rather than at the next try. */
    private readonly onReport: () => void = () => undefined,
  ) {}

  async lease(agent: AgentIdentity, leaseMs: number): Promise<LeasedJob | null> {
    const leased = await this.queue.lease(agent, leaseMs);
    // Its changes are measured from here (a resumed job: from its restart); its backup row was
    // made here before it ran, so it goes whole.
    if (leased?.job.lockKey) {
      const backupId = leased.job.params.backupId;
      this.changes.track(leased.job.id, [leased.job.lockKey], typeof backupId === "string" ? [backupId] : []);
    }
    return leased;
  }

  heartbeat(jobId: string, owner: string, leaseMs: number) {
    return this.queue.heartbeat(jobId, owner, leaseMs);
  }

  step(jobId: string, owner: string, idx: number, patch: StepPatch): Promise<void> {
    return this.queue.step(jobId, owner, idx, patch);
  }

  log(jobId: string, owner: string, lines: string[]): Promise<void> {
    return this.queue.log(jobId, owner, lines);
  }

  async finish(jobId: string, owner: string, outcome: JobOutcome): Promise<void> {
    const state = this.changes.report(jobId)?.state;
    await this.queue.finish(jobId, owner, outcome);
    this.changes.forget(jobId);
    const { hostId: _h, leaseOwner: _o, leaseExpiresAt: _e, cancelRequestedAt: _c, ...job } = this.queue.row(jobId);
    const { status, lockKey } = job;
    if (lockKey === null || (status !== "succeeded" && status !== "failed" && status !== "cancelled")) return;
    this.outbox.put({
      job: { ...job, lockKey, status },
      steps: this.queue.steps(jobId).map(stepReport),
      ...(state !== undefined && { state }),
    });
    this.onReport();
  }
}
