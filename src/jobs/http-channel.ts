/**
 * The JobChannel of a remote agent: the same five calls the local agent makes on the queue,
 * over the coordinator's agent API (src/api/routes/agent.ts). A 409 from the coordinator is a
 * lost lease, so the runner stops at once exactly as it does in-process. With a `StateLink`
 * (src/fleet/mirror.ts) the state a job needs arrives with its lease and what the job changed
 * goes back with its step reports and its finish: the runner and the steps see none of it.
 */
import { AppError, errorText } from "../errors";
import type { AgentIdentity, JobChannel, JobOutcome, LeasedJob, StepPatch } from "./queue";
import { LeaseLost } from "./queue";

/** What the channel needs from a transport: POST JSON to an agent API path, or throw. */
export interface AgentTransport {
  post<T>(path: string, body: unknown, timeoutMs?: number): Promise<T>;
}

/** What a job changed since its previous report; `accepted` once the coordinator took it. */
export interface StateReport {
  state: unknown;
  accepted(): void;
}

/** The agent's copy of the state its jobs need (src/fleet/mirror.ts). */
export interface StateLink {
  /** Stores the state a lease carried, before the job runs; throws when it cannot. */
  received(jobId: string, state: unknown): void;
  report(jobId: string): StateReport | null;
  /**
   * What people decided on the coordinator while the job runs (a deploy's approval), from a
   * lease heartbeat's answer: the job's steps poll their own copy, which must see it.
   */
  decided(jobId: string, decisions: unknown): void;
  /** The result's secrets, open, for the coordinator to seal with its own box. */
  openSecrets(outcome: JobOutcome): { outcome: JobOutcome; secrets?: Record<string, string> };
  forget(jobId: string): void;
}

/**
 * The host's heartbeat, carried by lease requests (src/fleet/pulse.ts): an idle agent then holds
 * one connection to the coordinator, its long-poll, instead of a second one for its beats.
 */
export interface LeaseBeat {
  /** How long a lease may wait, at most `max`: no longer than until the next beat is due. */
  waitMs(max: number): number;
  /** A beat waits for a lease to carry it. */
  due(): boolean;
  /** The beat due now, taken by this lease (no other carries it), or null. */
  take(): CarriedBeat | null;
}

export interface CarriedBeat {
  body: unknown;
  /** The coordinator's answer to the beat (its `heartbeat` part of the lease's answer). */
  answered(answer: unknown): void;
  failed(error: unknown): void;
}

type LeaseAnswer = (LeasedJob & { state?: unknown }) | { stream: unknown } | null;

/** How long one lease request waits on the coordinator for a job before answering null. */
export const LEASE_WAIT_MS = 20_000;

export class HttpJobChannel implements JobChannel {
  constructor(
    private readonly transport: AgentTransport,
    private readonly waitMs = LEASE_WAIT_MS,
    private readonly link: StateLink | null = null,
    /**
     * A lease may answer with a log stream to serve instead of a job (src/fleet/log-relay.ts):
     * handed over here, started in the background, and the lease asked again.
     */
    private readonly onStream: ((request: unknown) => void) | null = null,
    private readonly beat: LeaseBeat | null = null,
  ) {}

  async lease(agent: AgentIdentity, leaseMs: number): Promise<LeasedJob | null> {
    let answer: LeaseAnswer;
    for (;;) {
      answer = await this.ask(agent, leaseMs);
      if (answer && "stream" in answer) {
        this.onStream?.(answer.stream);
        continue;
      }
      // A beat offered while this lease waited goes now, not after the runner's poll pause.
      if (answer || !this.beat?.due()) break;
    }
    if (!answer) return null;
    const { state, ...leased } = answer;
    if (this.link && state !== undefined) {
      try {
        this.link.received(leased.job.id, state);
      } catch (e) {
        // Running a step against state this agent could not store would act on stale rows.
        await this.finish(leased.job.id, agent.owner, {
          status: "failed",
          error: `this agent could not store the job's state: ${errorText(e)}`,
        }).catch(() => undefined);
        return null;
      }
    }
    return leased;
  }

  /** One lease request, carrying the host's heartbeat when one is due. */
  private async ask(agent: AgentIdentity, leaseMs: number): Promise<LeaseAnswer> {
    const carried = this.beat?.take() ?? null;
    // After take(): a carried beat moves the next one's due time, which bounds this wait.
    const waitMs = this.beat ? this.beat.waitMs(this.waitMs) : this.waitMs;
    const body = { owner: agent.owner, leaseMs, waitMs, ...(carried && { heartbeat: carried.body }) };
    let answer: unknown;
    try {
      answer = await this.transport.post<unknown>("/jobs/lease", body, waitMs + 15_000);
    } catch (e) {
      carried?.failed(e);
      throw e;
    }
    if (!carried) return answer as LeaseAnswer;
    const { heartbeat, lease } = answer as { heartbeat: unknown; lease: LeaseAnswer };
    carried.answered(heartbeat);
    return lease;
  }

  async heartbeat(jobId: string, owner: string, leaseMs: number): Promise<{ cancelRequested: boolean }> {
    // What the running step changed so far goes up now, not only when the step ends.
    const report = this.link?.report(jobId) ?? null;
    const r = await this.call<{ cancelRequested: boolean; decisions?: unknown }>(jobId, "heartbeat", {
      owner,
      leaseMs,
      ...(report && { state: report.state }),
    });
    report?.accepted();
    if (r.decisions !== undefined) this.link?.decided(jobId, r.decisions);
    return { cancelRequested: r.cancelRequested };
  }

  async step(jobId: string, owner: string, idx: number, patch: StepPatch): Promise<void> {
    const report = this.link?.report(jobId) ?? null;
    await this.call(jobId, "step", { owner, idx, patch, ...(report && { state: report.state }) });
    report?.accepted();
  }

  log(jobId: string, owner: string, lines: string[]): Promise<void> {
    return this.call(jobId, "log", { owner, lines });
  }

  async finish(jobId: string, owner: string, outcome: JobOutcome): Promise<void> {
    try {
      const report = this.link?.report(jobId) ?? null;
      const opened = this.link?.openSecrets(outcome) ?? { outcome };
      await this.call(jobId, "finish", { owner, ...opened, ...(report && { state: report.state }) });
    } finally {
      // Finished, or refused: a later lease of this job brings its state afresh.
      this.link?.forget(jobId);
    }
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
