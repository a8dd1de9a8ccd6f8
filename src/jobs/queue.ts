/**
 * The job queue in SQLite, owned by the coordinator. Agents — the local one in standalone mode,
 * remote ones later over HTTP — only use the JobChannel half: lease, heartbeat, report, finish.
 * Leases expire, so a job whose agent died is never stuck "running".
 */
import { and, asc, desc, eq, inArray, isNotNull, lt, ne, sql } from "drizzle-orm";
import { Conflict, NotFound } from "../errors";
import { now } from "../state/columns";
import type { Db } from "../state/db";
import { VERSION } from "../version";
import type { JobEvents } from "./events";
import type { JobLogs } from "./job-log";
import { sealedOf, withoutSealed, type SealedSecrets } from "./secrets";
import { jobs, jobSteps, type JobStatus, type StepStatus } from "./jobs.sql";
import type { JobStepView, JobView } from "./view";

export type JobRow = typeof jobs.$inferSelect;
export type JobStepRow = typeof jobSteps.$inferSelect;

export interface LeasedJob {
  job: JobRow;
  steps: JobStepRow[];
}

export interface AgentIdentity {
  /** Unique per agent process: a lease held by an older process of the same host is orphaned. */
  owner: string;
  hostId: string;
}

export interface StepPatch {
  status: StepStatus;
  output?: Record<string, unknown> | null;
  error?: string | null;
  startedAt?: string | null;
  finishedAt?: string | null;
  durationMs?: number | null;
}

export type JobOutcome =
  | { status: "succeeded"; result: Record<string, unknown> | null }
  | { status: "failed" | "cancelled"; error: string };

export class LeaseLost extends Conflict {}

/** What an agent needs from the coordinator. */
export interface JobChannel {
  lease(agent: AgentIdentity, leaseMs: number): Promise<LeasedJob | null>;
  heartbeat(jobId: string, owner: string, leaseMs: number): Promise<{ cancelRequested: boolean }>;
  step(jobId: string, owner: string, idx: number, patch: StepPatch): Promise<void>;
  log(jobId: string, owner: string, lines: string[]): Promise<void>;
  finish(jobId: string, owner: string, outcome: JobOutcome): Promise<void>;
}

export interface EnqueueRequest {
  kind: string;
  params: Record<string, unknown>;
  lockKey: string | null;
  target: string | null;
  steps: { name: string; title: string }[];
  createdBy: string | null;
  hostId: string | null;
}

export interface JobListFilter {
  status?: JobStatus;
  target?: string;
  kind?: string;
  limit: number;
}

const ACTIVE: JobStatus[] = ["queued", "running"];

export class SqliteJobQueue implements JobChannel {
  constructor(
    private readonly db: Db,
    private readonly events: JobEvents,
    private readonly logs: JobLogs,
    /** Why a host's queued jobs do not start (it is offline), or null (src/fleet/offline-jobs.ts). */
    private readonly hostWait: (hostId: string) => string | null = () => null,
  ) {}

  enqueue(req: EnqueueRequest): JobView {
    const row = this.db.transaction((tx) => {
      const job = tx
        .insert(jobs)
        .values({
          kind: req.kind,
          params: req.params,
          lockKey: req.lockKey,
          target: req.target,
          createdBy: req.createdBy,
          hostId: req.hostId,
          odooopsVersion: VERSION,
        })
        .returning()
        .get();
      if (req.steps.length)
        tx.insert(jobSteps)
          .values(req.steps.map((s, idx) => ({ jobId: job.id, idx, name: s.name, title: s.title })))
          .run();
      return job;
    });
    this.logs.append(row.id, [
      `${now()} queued ${req.kind}${req.target ? ` on ${req.target}` : ""}${req.createdBy ? ` by ${req.createdBy}` : ""}`,
    ]);
    this.events.queued();
    return this.view(row.id);
  }

  /**
   * `onlyHost`: jobs of this host only. A remote agent leases with it: jobs without a host id
   * belong to the coordinator's own agent.
   */
  async lease(agent: AgentIdentity, leaseMs: number, opts: { onlyHost?: boolean } = {}): Promise<LeasedJob | null> {
    const leased = this.db.transaction((tx) => {
      // Oldest queued job for this host whose lock is free: nothing running on the same key and
      // nothing older queued on it (FIFO per key).
      const candidate = tx
        .select()
        .from(jobs)
        .where(
          and(
            eq(jobs.status, "queued"),
            opts.onlyHost
              ? eq(jobs.hostId, agent.hostId)
              : sql`(${jobs.hostId} is null or ${jobs.hostId} = ${agent.hostId})`,
            sql`(${jobs.lockKey} is null or not exists (select 1 from jobs o where o.lock_key = ${jobs.lockKey} and o.id <> ${jobs.id} and (o.status = 'running' or (o.status = 'queued' and o.id < ${jobs.id}))))`,
          ),
        )
        .orderBy(asc(jobs.id))
        .limit(1)
        .get();
      if (!candidate) return null;
      const ts = now();
      const job = tx
        .update(jobs)
        .set({
          status: "running",
          leaseOwner: agent.owner,
          leaseExpiresAt: new Date(Date.now() + leaseMs).toISOString(),
          attempts: candidate.attempts + 1,
          startedAt: candidate.startedAt ?? ts,
        })
        .where(and(eq(jobs.id, candidate.id), eq(jobs.status, "queued")))
        .returning()
        .get();
      if (!job) return null;
      return {
        job,
        steps: tx.select().from(jobSteps).where(eq(jobSteps.jobId, job.id)).orderBy(asc(jobSteps.idx)).all(),
      };
    });
    if (leased) this.emitJob(leased.job);
    return leased;
  }

  async heartbeat(jobId: string, owner: string, leaseMs: number): Promise<{ cancelRequested: boolean }> {
    const row = this.db
      .update(jobs)
      .set({ leaseExpiresAt: new Date(Date.now() + leaseMs).toISOString() })
      .where(and(eq(jobs.id, jobId), eq(jobs.leaseOwner, owner), eq(jobs.status, "running")))
      .returning({ cancelRequestedAt: jobs.cancelRequestedAt })
      .get();
    if (!row) throw new LeaseLost(`job ${jobId} is no longer leased by ${owner}`);
    return { cancelRequested: row.cancelRequestedAt !== null };
  }

  /** The running jobs leased by `owner` that were asked to stop (the agent API tells them on a lease). */
  cancelsRequested(owner: string): string[] {
    return this.db
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(eq(jobs.leaseOwner, owner), eq(jobs.status, "running"), isNotNull(jobs.cancelRequestedAt)))
      .all()
      .map((r) => r.id);
  }

  async step(jobId: string, owner: string, idx: number, patch: StepPatch): Promise<void> {
    this.owned(jobId, owner);
    const row = this.db
      .update(jobSteps)
      .set(patch)
      .where(and(eq(jobSteps.jobId, jobId), eq(jobSteps.idx, idx)))
      .returning()
      .get();
    if (row) this.events.emit(jobId, { type: "step", step: stepView(row) });
  }

  async log(jobId: string, owner: string, lines: string[]): Promise<void> {
    this.owned(jobId, owner);
    for (const line of this.logs.append(jobId, lines)) this.events.emit(jobId, { type: "log", line });
  }

  async finish(jobId: string, owner: string, outcome: JobOutcome): Promise<void> {
    this.owned(jobId, owner);
    this.end(jobId, outcome);
  }

  /** The job's outcome stored, its lease cleared, its lock freed for the next job on the key. */
  private end(jobId: string, outcome: JobOutcome): void {
    const job = this.db
      .update(jobs)
      .set({
        status: outcome.status,
        result: outcome.status === "succeeded" ? outcome.result : null,
        error: outcome.status === "succeeded" ? null : outcome.error,
        finishedAt: now(),
        leaseOwner: null,
        leaseExpiresAt: null,
      })
      .where(eq(jobs.id, jobId))
      .returning()
      .get();
    if (job) this.emitJob(job);
    this.events.queued();
  }

  /**
   * A leased job its agent finished while the coordinator was away, reported after its lease
   * expired, and still that agent's (src/fleet/late-finish.ts decides): the step reports and log
   * lines the coordinator missed, and the outcome, as it ran. No owner check: the lease is gone.
   */
  finishLate(
    jobId: string,
    report: { steps: { idx: number; patch: StepPatch }[]; lines: string[]; outcome: JobOutcome },
    note: string,
  ): void {
    for (const { idx, patch } of report.steps)
      this.db
        .update(jobSteps)
        .set(patch)
        .where(and(eq(jobSteps.jobId, jobId), eq(jobSteps.idx, idx)))
        .run();
    this.logs.append(jobId, [...report.lines, `${now()} ${note}`]);
    this.end(jobId, report.outcome);
  }

  /** A line the coordinator itself adds to a job's log (a late report it did not take). */
  note(jobId: string, line: string): void {
    this.logs.append(jobId, [`${now()} ${line}`]);
  }

  has(jobId: string): boolean {
    return this.db.select({ id: jobs.id }).from(jobs).where(eq(jobs.id, jobId)).get() !== undefined;
  }

  /**
   * Stores a job another host ran on its own and reported once it ended (an agent's scheduled
   * backup, src/fleet/agent-jobs.ts), as it ran.
   */
  adopt(job: JobRow, steps: Omit<JobStepRow, "id" | "jobId">[]): void {
    this.db.insert(jobs).values(job).run();
    if (steps.length)
      this.db
        .insert(jobSteps)
        .values(steps.map((s) => ({ ...s, jobId: job.id })))
        .run();
    this.logs.append(job.id, [`${now()} ${job.kind} ran on its host by itself; reported ${job.status}`]);
    this.emitJob(job);
  }

  /**
   * Queued jobs placed on a host that is gone fail with `reason`. `running`: its running ones
   * too — a removed host's agent can no longer report (its credential is revoked), so its leases
   * would only come back as queued jobs no host ever takes.
   */
  failQueuedOfHost(hostId: string, reason: string, opts: { running?: boolean } = {}): number {
    const ts = now();
    const failed = this.db
      .update(jobs)
      .set({ status: "failed", error: reason, finishedAt: ts, leaseOwner: null, leaseExpiresAt: null })
      .where(and(eq(jobs.hostId, hostId), inArray(jobs.status, opts.running ? ["queued", "running"] : ["queued"])))
      .returning({ id: jobs.id })
      .all();
    for (const { id } of failed) {
      this.db
        .update(jobSteps)
        .set({ status: "skipped" })
        .where(and(eq(jobSteps.jobId, id), eq(jobSteps.status, "pending")))
        .run();
      this.db
        .update(jobSteps)
        .set({ status: "failed", error: reason, finishedAt: ts })
        .where(and(eq(jobSteps.jobId, id), eq(jobSteps.status, "running")))
        .run();
      this.logs.append(id, [`${ts} ${reason}`]);
      this.emitJob(this.row(id));
    }
    return failed.length;
  }

  /**
   * A queued job is cancelled at once; a running one is flagged and its agent aborts it (running
   * the undo of finished steps): this process's runner at once, a remote agent at its next heartbeat.
   */
  cancel(jobId: string): JobView {
    const job = this.row(jobId);
    if (job.status === "queued") {
      this.db
        .update(jobs)
        .set({ status: "cancelled", error: "cancelled before it started", finishedAt: now() })
        .where(eq(jobs.id, jobId))
        .run();
      this.db
        .update(jobSteps)
        .set({ status: "skipped" })
        .where(and(eq(jobSteps.jobId, jobId), eq(jobSteps.status, "pending")))
        .run();
      this.logs.append(jobId, [`${now()} cancelled before it started`]);
      this.emitJob(this.row(jobId));
      this.events.queued();
    } else if (job.status === "running" && !job.cancelRequestedAt) {
      this.db.update(jobs).set({ cancelRequestedAt: now() }).where(eq(jobs.id, jobId)).run();
      this.logs.append(jobId, [`${now()} cancel requested`]);
      this.events.cancelRequested(jobId);
    }
    return this.view(jobId);
  }

  /**
   * Jobs whose agent is gone go back to the queue; the agent that leases them again resumes
   * after the last finished step. `currentOwner` releases at once every lease a previous
   * process of this host held (standalone restart); others wait for their lease to expire.
   */
  recover(opts: { hostId?: string; currentOwner?: string } = {}): number {
    const ts = now();
    const orphanedHere = (owner: string) =>
      opts.hostId !== undefined && owner !== opts.currentOwner && owner.startsWith(`${opts.hostId}:`);
    const stale = this.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.status, "running"), isNotNull(jobs.leaseOwner)))
      .all()
      .filter((j) => (j.leaseExpiresAt !== null && j.leaseExpiresAt < ts) || orphanedHere(j.leaseOwner ?? ""));
    for (const j of stale) {
      this.db
        .update(jobs)
        .set({ status: "queued", leaseOwner: null, leaseExpiresAt: null })
        .where(eq(jobs.id, j.id))
        .run();
      this.logs.append(j.id, [`${ts} agent ${j.leaseOwner} went away; job requeued to resume`]);
      this.emitJob(this.row(j.id));
    }
    if (stale.length) this.events.queued();
    return stale.length;
  }

  row(jobId: string): JobRow {
    const job = this.db.select().from(jobs).where(eq(jobs.id, jobId)).get();
    if (!job) throw new NotFound(`no job ${jobId}`);
    return job;
  }

  steps(jobId: string): JobStepRow[] {
    return this.db.select().from(jobSteps).where(eq(jobSteps.jobId, jobId)).orderBy(asc(jobSteps.idx)).all();
  }

  view(jobId: string): JobView {
    const job = this.row(jobId);
    return {
      ...baseView(job),
      steps: this.steps(jobId).map(stepView),
      blockedBy: this.blockedBy(job),
      waitingForHost: this.waitingForHost(job),
    };
  }

  /**
   * The sealed secrets of a finished job, for its creator only, and only once: they are removed
   * from the stored result in the same transaction (see secrets.ts).
   */
  takeSecrets(jobId: string, username: string): SealedSecrets | null {
    return this.db.transaction((tx) => {
      const job = tx.select().from(jobs).where(eq(jobs.id, jobId)).get();
      const sealed = sealedOf(job?.result ?? null);
      if (!job || !sealed || job.status !== "succeeded" || job.createdBy !== username) return null;
      tx.update(jobs)
        .set({ result: withoutSealed(job.result) })
        .where(eq(jobs.id, jobId))
        .run();
      return sealed;
    });
  }

  list(filter: JobListFilter): JobView[] {
    const conds = [];
    if (filter.status) conds.push(eq(jobs.status, filter.status));
    if (filter.target) conds.push(eq(jobs.target, filter.target));
    if (filter.kind) conds.push(eq(jobs.kind, filter.kind));
    const rows = this.db
      .select()
      .from(jobs)
      .where(conds.length ? and(...conds) : undefined)
      .orderBy(desc(jobs.id))
      .limit(filter.limit)
      .all();
    if (!rows.length) return [];
    const steps = this.db
      .select()
      .from(jobSteps)
      .where(
        inArray(
          jobSteps.jobId,
          rows.map((r) => r.id),
        ),
      )
      .orderBy(asc(jobSteps.idx))
      .all();
    return rows.map((r) => ({
      ...baseView(r),
      steps: steps.filter((s) => s.jobId === r.id).map(stepView),
      blockedBy: this.blockedBy(r),
      waitingForHost: this.waitingForHost(r),
    }));
  }

  /** The active job holding (or first in line for) a key, for "already running" messages. */
  activeOn(lockKey: string): JobRow | undefined {
    return this.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.lockKey, lockKey), inArray(jobs.status, ACTIVE)))
      .orderBy(asc(jobs.id))
      .get();
  }

  private waitingForHost(job: JobRow): string | null {
    return job.status === "queued" && job.hostId ? this.hostWait(job.hostId) : null;
  }

  private blockedBy(job: JobRow): JobView["blockedBy"] {
    if (job.status !== "queued" || !job.lockKey) return null;
    const holder =
      this.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.lockKey, job.lockKey), eq(jobs.status, "running"), ne(jobs.id, job.id)))
        .get() ??
      this.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.lockKey, job.lockKey), eq(jobs.status, "queued"), lt(jobs.id, job.id)))
        .orderBy(asc(jobs.id))
        .get();
    return holder
      ? { id: holder.id, kind: holder.kind, target: holder.target, status: holder.status, startedAt: holder.startedAt }
      : null;
  }

  private owned(jobId: string, owner: string): void {
    const job = this.db
      .select({ leaseOwner: jobs.leaseOwner, status: jobs.status })
      .from(jobs)
      .where(eq(jobs.id, jobId))
      .get();
    if (!job || job.status !== "running" || job.leaseOwner !== owner)
      throw new LeaseLost(`job ${jobId} is no longer leased by ${owner}`);
  }

  private emitJob(job: JobRow): void {
    this.events.emit(job.id, { type: "job", status: job.status, error: job.error });
  }
}

/** The newest job of `kind` on `lockKey`, whatever its status (e.g. an env's last move). */
export function newestJobOn(db: Db, kind: string, lockKey: string) {
  return db
    .select({ id: jobs.id, status: jobs.status, params: jobs.params })
    .from(jobs)
    .where(and(eq(jobs.kind, kind), eq(jobs.lockKey, lockKey)))
    .orderBy(desc(jobs.id))
    .limit(1)
    .get();
}

/** A finished job kept for its history only, copied from the coordinator (an agent's state link). */
export function mirrorPastJob(db: Db, job: { id: string; kind: string; lockKey: string; finishedAt: string }): void {
  db.insert(jobs)
    .values({ ...job, status: "succeeded", params: {}, startedAt: job.finishedAt })
    .onConflictDoNothing()
    .run();
}

function baseView(job: JobRow): Omit<JobView, "steps" | "blockedBy" | "waitingForHost"> {
  return {
    id: job.id,
    kind: job.kind,
    target: job.target,
    status: job.status,
    error: job.error,
    result: withoutSealed(job.result ?? null),
    createdBy: job.createdBy,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}

export function stepView(s: JobStepRow): JobStepView {
  return {
    idx: s.idx,
    name: s.name,
    title: s.title,
    status: s.status,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    durationMs: s.durationMs,
    error: s.error,
  };
}
