/**
 * The worker half of a host: leases jobs through a JobChannel, runs them with heartbeats, and
 * turns a cancel request (seen at a heartbeat, or told at once by `cancel`) into an aborted signal. In standalone mode the
 * channel is the coordinator's SqliteJobQueue itself; a remote agent will get an HTTP channel.
 */
import { Log } from "../log";
import type { Deps } from "../deps";
import type { JobRegistry } from "./registry";
import { type AgentIdentity, type JobChannel, type LeasedJob, LeaseLost } from "./queue";
import { errorText } from "../errors";
import { runJob } from "./runner";
import type { KeyGate } from "./key-gate";

const log = Log.create("agent");

export interface AgentOptions {
  identity: AgentIdentity;
  channel: JobChannel;
  registry: JobRegistry;
  deps: Deps;
  /** Jobs on different lock keys run side by side up to this many. */
  concurrency?: number;
  leaseMs?: number;
  heartbeatMs?: number;
  pollMs?: number;
  /** Shared with another runner in the same process: jobs on one lock key never overlap (src/jobs/key-gate.ts). */
  gate?: KeyGate;
}

export class Agent {
  private readonly running = new Map<string, Promise<void>>();
  private readonly aborts = new Map<string, AbortController>();
  private stopped = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;

  constructor(private readonly opts: AgentOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** A cancel requested in this process: the job running here stops now (a no-op for any other job). */
  cancel(jobId: string): void {
    const abort = this.aborts.get(jobId);
    if (abort && !abort.signal.aborted) abort.abort(new Error("cancelled"));
  }

  /** Leasing looks again now instead of at the next poll. */
  poke(): void {
    this.wake?.();
  }

  /**
   * Stops leasing and waits up to `graceMs` for running jobs; jobs still running then stay
   * leased in state and are resumed by the next start (the same path as a crash).
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    this.poke();
    // A channel call that never returns (coordinator unreachable) must not block shutdown.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.allSettled([this.loop, ...this.running.values()]), grace]);
    // A pending grace timer would keep the process alive after a clean stop.
    clearTimeout(timer);
  }

  private async run(): Promise<void> {
    const { concurrency = 4, pollMs = 2_000, leaseMs = 30_000 } = this.opts;
    while (!this.stopped) {
      let leased: LeasedJob | null = null;
      if (this.running.size < concurrency) {
        try {
          leased = await this.opts.channel.lease(this.opts.identity, leaseMs);
        } catch (err) {
          log.error("lease failed", { error: errorText(err) });
        }
      }
      if (leased) {
        const id = leased.job.id;
        // Leased again while its run here goes on (the lease expired while the coordinator was
        // away): the same owner keeps that run; a second one beside it would do the work twice.
        if (this.running.has(id)) {
          log.warn("leased a job already running here; the running one goes on", { job: id });
          continue;
        }
        this.running.set(
          id,
          this.execute(leased).finally(() => {
            this.running.delete(id);
            this.poke();
          }),
        );
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  private async execute(leased: LeasedJob): Promise<void> {
    const { channel, identity, registry, deps, gate, leaseMs = 30_000, heartbeatMs = 5_000 } = this.opts;
    const { job } = leased;
    const abort = new AbortController();
    this.aborts.set(job.id, abort);
    const beat = setInterval(() => {
      channel
        .heartbeat(job.id, identity.owner, leaseMs)
        .then((hb) => {
          if (hb.cancelRequested && !abort.signal.aborted) abort.abort(new Error("cancelled"));
        })
        .catch((err: unknown) => {
          log.warn("heartbeat failed", { job: job.id, error: errorText(err) });
          // Another agent owns the job now: stop working on it at once.
          if (err instanceof LeaseLost && !abort.signal.aborted) abort.abort(err);
        });
    }, heartbeatMs);
    // Env jobs target their env's slug: `env` lets a log search follow one env across jobs.
    const jlog = log.tag({ job: job.id, kind: job.kind, ...(job.target ? { env: job.target } : {}) });
    // Heartbeats run while waiting: the lease is kept until the other runner's job on this key ends.
    const release = gate && job.lockKey !== null ? await gate.acquire(job.lockKey) : null;
    jlog.info("job started", { attempt: job.attempts });
    try {
      const def = registry.get(job.kind);
      if (!def) {
        await channel.finish(job.id, identity.owner, {
          status: "failed",
          error: `this agent does not know job kind ${job.kind}`,
        });
        return;
      }
      await runJob({ def, leased, channel, owner: identity.owner, deps, signal: abort.signal });
      jlog.info("job ended");
    } catch (err) {
      jlog.error("job runner crashed", { error: errorText(err) });
      await channel
        .finish(job.id, identity.owner, { status: "failed", error: `internal: ${errorText(err)}` })
        .catch(() => undefined);
    } finally {
      clearInterval(beat);
      this.aborts.delete(job.id);
      release?.();
    }
  }
}
