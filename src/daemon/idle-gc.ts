/**
 * One full collection once the daemon's listeners have gone quiet after serving requests. Left to
 * itself, JSC collects when its heap grows, not when the daemon stops working: the garbage of a
 * burst of pages or API calls (and the allocator pages behind it) then stays resident until the
 * next burst. `Bun.gc(true)` collects synchronously and then has mimalloc return the freed pages
 * to the OS (oven-sh/bun#42428). It does not give back JIT code or anything still
 * referenced; bench/README.md (web console) says what it measured.
 *
 * Never more than one collection per `minGapMs`, and none without a request since the last one:
 * an idle daemon is not woken, and a steady trickle of requests costs at most one collection per gap.
 */

export interface IdleCollectorOptions {
  /** No request for this long counts as quiet. */
  quietMs: number;
  /** At least this long between two collections. */
  minGapMs: number;
  now: () => number;
  /** Runs `fn` after `ms`; returns what cancels it. */
  schedule: (fn: () => void, ms: number) => () => void;
  collect: () => void;
}

export class IdleCollector {
  private lastRequest = Number.NEGATIVE_INFINITY;
  private lastCollect = Number.NEGATIVE_INFINITY;
  /** A request was served since the last collection. */
  private pending = false;
  private cancel: (() => void) | null = null;

  constructor(private readonly opts: IdleCollectorOptions) {}

  /** A request arrived. One timer at a time, re-armed only when it fires: no timer churn per request. */
  touch(): void {
    this.lastRequest = this.opts.now();
    this.pending = true;
    if (!this.cancel) this.arm();
  }

  stop(): void {
    this.cancel?.();
    this.cancel = null;
  }

  private dueAt(): number {
    return Math.max(this.lastRequest + this.opts.quietMs, this.lastCollect + this.opts.minGapMs);
  }

  private arm(): void {
    this.cancel = this.opts.schedule(() => this.fire(), Math.max(0, this.dueAt() - this.opts.now()));
  }

  private fire(): void {
    this.cancel = null;
    if (!this.pending) return;
    const now = this.opts.now();
    if (now < this.dueAt()) {
      // A request came in while the timer ran: wait for the quiet after it.
      this.arm();
      return;
    }
    this.pending = false;
    this.lastCollect = now;
    this.opts.collect();
  }
}

/** The daemon's collector: real clock, unref'd timers (they never keep a stopping process alive). */
export function idleCollector(quietMs = 5000, minGapMs = 10_000): IdleCollector {
  return new IdleCollector({
    quietMs,
    minGapMs,
    now: () => performance.now(),
    schedule: (fn, ms) => {
      const t = setTimeout(fn, ms);
      t.unref();
      return () => clearTimeout(t);
    },
    collect: () => Bun.gc(true),
  });
}
