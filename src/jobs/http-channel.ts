/**
 * The JobChannel of a remote agent: the same five calls the local agent makes on the queue,
 * over the coordinator's agent API (src/api/routes/agent.ts). A 409 from the coordinator is a
 * lost lease, so the runner stops at once exactly as it does in-process.
 */
import { AppError } from "../errors";
import type { AgentIdentity, JobChannel, JobOutcome, LeasedJob, StepPatch } from "./queue";
import { LeaseLost } from "./queue";

/** What the channel needs from a transport: POST JSON to an agent API path, or throw. */
export interface AgentTransport {
  post<T>(path: string, body: unknown, timeoutMs?: number): Promise<T>;
}

/** How long one lease request waits on the coordinator for a job before answering null. */
export const LEASE_WAIT_MS = 20_000;

export class HttpJobChannel implements JobChannel {
  constructor(
    private readonly transport: AgentTransport,
    private readonly waitMs = LEASE_WAIT_MS,
  ) {}

  lease(agent: AgentIdentity, leaseMs: number): Promise<LeasedJob | null> {
    return this.transport.post<LeasedJob | null>(
      "/jobs/lease",
      { owner: agent.owner, leaseMs, waitMs: this.waitMs },
      this.waitMs + 15_000,
    );
  }

  heartbeat(jobId: string, owner: string, leaseMs: number): Promise<{ cancelRequested: boolean }> {
    return this.call(jobId, "heartbeat", { owner, leaseMs });
  }

  step(jobId: string, owner: string, idx: number, patch: StepPatch): Promise<void> {
    return this.call(jobId, "step", { owner, idx, patch });
  }

  log(jobId: string, owner: string, lines: string[]): Promise<void> {
    return this.call(jobId, "log", { owner, lines });
  }

  finish(jobId: string, owner: string, outcome: JobOutcome): Promise<void> {
    return this.call(jobId, "finish", { owner, outcome });
  }

  private async call<T>(jobId: string, what: string, body: unknown): Promise<T> {
    try {
      return await this.transport.post<T>(`/jobs/${encodeURIComponent(jobId)}/${what}`, body);
    } catch (e) {
      if (e instanceof AppError && e.status === 409) throw new LeaseLost(e.message);
      throw e;
    }
  }
}
