/**
 * The JobChannel of a remote agent: the same five calls the local agent makes on the queue,
 * over the coordinator's agent API (src/api/routes/agent.ts). A 409 from the coordinator is a
 * lost lease, so the runner stops at once exactly as it does in-process. With a `StateLink`
 * (src/fleet/mirror.ts) the state a job needs arrives with its lease and what the job changed
 * goes back with its step reports and its finish: the runner and the steps see none of it.
 * With a `LateFinishStore`, a coordinator that does not answer does not stop a job: its step
 * reports and log lines wait in memory and go with the next report that gets through, and a
 * finish that cannot be sent waits on disk and is sent before the next lease — the coordinator
 * takes it as how the job ran if nobody leased the job since (src/fleet/late-finish.ts).
 */
import { AppError, errorText } from "../errors";
import { Log } from "../log";
import type { AgentIdentity, JobChannel, JobOutcome, LeasedJob, StepPatch } from "./queue";
import { LeaseLost } from "./queue";

const log = Log.create("agent");

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

/** A leased job's finish kept while the coordinator is away (the wire shape: src/fleet/schema.ts LateFinish). */
export interface LateFinishReport {
  jobId: string;
  owner: string;
  /** The lease's attempt: the coordinator takes the report only if the job was not leased since. */
  attempt: number;
  /** Step reports the coordinator did not get, merged per step. */
  steps: { idx: number; patch: StepPatch }[];
  lines: string[];
  outcome: JobOutcome;
  secrets?: Record<string, string>;
  state?: unknown;
}

/** Files that survive the agent's restart (src/daemon/outbox.ts). */
export interface LateFinishStore {
  put(report: LateFinishReport): void;
  pending(): string[];
  read(jobId: string): LateFinishReport;
  taken(jobId: string): void;
  refused(jobId: string): void;
}

/** What a leased job reported that the coordinator has not taken yet. */
interface Unsent {
  attempt: number;
  steps: Map<number, StepPatch>;
  lines: string[];
}

/** Log lines kept per job while the coordinator is away; older ones are dropped past it. */
const MAX_UNSENT_LINES = 5_000;

/** The coordinator refuses this report and would again: kept aside, never sent again. */
const refusal = (e: unknown) => e instanceof AppError && [400, 403, 404, 413, 422].includes(e.status);

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

type LeaseAnswer = (LeasedJob & { state?: unknown }) | { stream: unknown } | { cancel: string[] } | null;

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
    private readonly late: LateFinishStore | null = null,
    private readonly beat: LeaseBeat | null = null,
  ) {}

  private readonly unsent = new Map<string, Unsent>();
  private readonly cancelListeners = new Set<(jobId: string) => void>();

  /**
   * A job this agent runs was asked to stop: told by the coordinator on the lease long-poll as
   * soon as it was asked (the job's heartbeat says it too, an interval later at most).
   */
  onCancel(fn: (jobId: string) => void): () => void {
    this.cancelListeners.add(fn);
    return () => this.cancelListeners.delete(fn);
  }

  /** The coordinator did not answer (unreachable, 5xx): with a store, the job goes on without it. */
  private away(e: unknown): boolean {
    return this.late !== null && !(e instanceof AppError && e.status < 500);
  }

  async lease(agent: AgentIdentity, leaseMs: number): Promise<LeasedJob | null> {
    // Before any lease: a job whose finish waits here must not be leased again (and run twice).
    await this.deliverLate();
    const leased = await this.leaseJob(agent, leaseMs);
    if (leased && this.late?.pending().includes(leased.job.id)) {
      // It ended here, its finish waiting on disk, and the coordinator requeued it meanwhile:
      // this lease is ours, so the finish goes under it instead of a second run.
      this.late.put({ ...this.late.read(leased.job.id), owner: agent.owner, attempt: leased.job.attempts });
      this.link?.forget(leased.job.id);
      await this.deliverLate();
      return null;
    }
    if (leased) {
      // Leased again while its run here goes on (its lease expired while the coordinator was away): same owner, new attempt.
      const u = this.unsent.get(leased.job.id);
      if (u) u.attempt = leased.job.attempts;
      else this.unsent.set(leased.job.id, { attempt: leased.job.attempts, steps: new Map(), lines: [] });
    }
    return leased;
  }

  /** Hands every waiting finish over, oldest first; throws while the coordinator does not answer. */
  private async deliverLate(): Promise<void> {
    if (!this.late) return;
    for (const jobId of this.late.pending()) {
      try {
        const r = await this.transport.post<{ take: boolean; why?: string }>(
          "/jobs/late-finish",
          this.late.read(jobId),
        );
        this.late.taken(jobId);
        log.info("reported a job finished while the coordinator was away", { job: jobId, taken: r.take, why: r.why });
      } catch (e) {
        if (!refusal(e)) throw e;
        this.late.refused(jobId);
        log.error("the coordinator refused a late job report; kept beside the outbox", {
          job: jobId,
          error: errorText(e),
        });
      }
    }
  }

  private async leaseJob(agent: AgentIdentity, leaseMs: number): Promise<LeasedJob | null> {
    let answer: LeaseAnswer;
    for (;;) {
      answer = await this.ask(agent, leaseMs);
      if (answer && "stream" in answer) {
        this.onStream?.(answer.stream);
        continue;
      }
      if (answer && "cancel" in answer) {
        for (const id of answer.cancel) for (const fn of this.cancelListeners) fn(id);
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
    const body = { owner: agent.owner, leaseMs, waitMs, cancels: true, ...(carried && { heartbeat: carried.body }) };
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
    const u = this.unsentOf(jobId);
    u.steps.set(idx, { ...u.steps.get(idx), ...patch });
    try {
      await this.sendSteps(jobId, owner, u);
    } catch (e) {
      if (!this.away(e)) throw e;
    }
  }

  /** Every step report not taken yet, in step order; the state goes with each (what changed since the last one taken). */
  private async sendSteps(jobId: string, owner: string, u: Unsent): Promise<void> {
    for (const [idx, patch] of [...u.steps].sort(([a], [b]) => a - b)) {
      const report = this.link?.report(jobId) ?? null;
      await this.call(jobId, "step", { owner, idx, patch, ...(report && { state: report.state }) });
      report?.accepted();
      // A newer report of the same step that came meanwhile is still to send.
      if (u.steps.get(idx) === patch) u.steps.delete(idx);
    }
  }

  async log(jobId: string, owner: string, lines: string[]): Promise<void> {
    const u = this.unsentOf(jobId);
    const batch = [...u.lines, ...lines];
    u.lines = [];
    try {
      await this.call(jobId, "log", { owner, lines: batch });
    } catch (e) {
      if (!this.away(e)) throw e;
      u.lines = [...batch, ...u.lines].slice(-MAX_UNSENT_LINES);
    }
  }

  async finish(jobId: string, owner: string, outcome: JobOutcome): Promise<void> {
    const u = this.unsentOf(jobId);
    try {
      try {
        await this.sendSteps(jobId, owner, u);
        if (u.lines.length) {
          await this.call(jobId, "log", { owner, lines: u.lines });
          u.lines = [];
        }
        const report = this.link?.report(jobId) ?? null;
        const opened = this.link?.openSecrets(outcome) ?? { outcome };
        await this.call(jobId, "finish", { owner, ...opened, ...(report && { state: report.state }) });
      } catch (e) {
        if (!this.late || !this.away(e)) throw e;
        // Computed again: what a step report that failed above did not take is in it.
        const report = this.link?.report(jobId) ?? null;
        this.late.put({
          jobId,
          owner,
          attempt: u.attempt,
          steps: [...u.steps].map(([idx, patch]) => ({ idx, patch })),
          lines: u.lines,
          ...(this.link?.openSecrets(outcome) ?? { outcome }),
          ...(report && { state: report.state }),
        });
        log.warn("coordinator away: the job's finish waits in the outbox", { job: jobId, error: errorText(e) });
      }
    } finally {
      // Finished, or refused: a later lease of this job brings its state afresh.
      this.link?.forget(jobId);
      this.unsent.delete(jobId);
    }
  }

  /** A job leased before this process (or through another channel) is tracked from its first report. */
  private unsentOf(jobId: string): Unsent {
    let u = this.unsent.get(jobId);
    if (!u) {
      u = { attempt: 0, steps: new Map(), lines: [] };
      this.unsent.set(jobId, u);
    }
    return u;
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
