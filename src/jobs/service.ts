/**
 * The coordinator's job facade used by routes and services: enqueue a typed job, read views
 * and logs, cancel, and stream progress (snapshot first, then events until the job ends).
 */
import type { Db } from "../state/db";
import type { JobDef } from "./define";
import { JobEvents } from "./events";
import { JobLogs } from "./job-log";
import { SqliteJobQueue } from "./queue";
import type { JobRegistry } from "./registry";
import type { JobStreamEvent, JobView } from "./view";
import { TERMINAL } from "./status";

export class JobService {
  readonly events = new JobEvents();
  readonly logs: JobLogs;
  readonly queue: SqliteJobQueue;

  constructor(
    db: Db,
    jobLogsDir: string,
    readonly registry: JobRegistry,
    private readonly hostId: string | null,
    /** The host a lock key's jobs run on (an env's host, src/fleet/routing.ts); null = this host. */
    private readonly hostFor: (lockKey: string) => string | null = () => null,
    /** Why a host's queued jobs wait (it is offline), shown on the job; null when it is not. */
    hostWait: (hostId: string) => string | null = () => null,
  ) {
    this.logs = new JobLogs(jobLogsDir);
    this.queue = new SqliteJobQueue(db, this.events, this.logs, hostWait);
  }

  /** `opts.hostId`: run it on that host, not the lock's (a move removes an env from the host it leaves). */
  enqueue<P>(def: JobDef<P>, params: P, createdBy: string | null, opts: { hostId?: string } = {}): JobView {
    const parsed = def.params.parse(params);
    const lockKey = def.lockKey(parsed);
    return this.queue.enqueue({
      kind: def.kind,
      params: parsed as Record<string, unknown>,
      lockKey,
      target: def.target(parsed),
      steps: def.steps.map((s) => ({ name: s.name, title: s.title })),
      createdBy,
      hostId: opts.hostId ?? (lockKey !== null ? this.hostFor(lockKey) : null) ?? this.hostId,
    });
  }

  /**
   * Progress of one job as an async stream. Subscribes before reading the snapshot so no event
   * falls between the two; ends after the terminal job event or when `signal` aborts.
   */
  async *stream(jobId: string, signal: AbortSignal): AsyncGenerator<JobStreamEvent> {
    const pending: JobStreamEvent[] = [];
    let notify: (() => void) | null = null;
    const unsubscribe = this.events.subscribe(jobId, (ev) => {
      pending.push(ev);
      notify?.();
    });
    const onAbort = () => notify?.();
    signal.addEventListener("abort", onAbort);
    try {
      const snapshot = this.queue.view(jobId);
      yield { type: "snapshot", job: snapshot };
      if (TERMINAL.has(snapshot.status)) {
        yield { type: "job", status: snapshot.status, error: snapshot.error };
        return;
      }
      while (!signal.aborted) {
        const ev = pending.shift();
        if (!ev) {
          await new Promise<void>((resolve) => (notify = resolve));
          notify = null;
          continue;
        }
        yield ev;
        if (ev.type === "job" && TERMINAL.has(ev.status)) return;
      }
    } finally {
      unsubscribe();
      signal.removeEventListener("abort", onAbort);
    }
  }
}
