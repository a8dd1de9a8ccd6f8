/**
 * The agent's host heartbeat on its lease long-poll (issue #16): an idle agent holds one
 * connection to the coordinator instead of one for the long-poll and one for its beats (each
 * open connection and each request in flight costs the coordinator memory, 1,000 agents over).
 *
 * The heartbeat loop (src/daemon/agent.ts) still decides when a beat is due and what its answer
 * means (interval, credential rotation, backoff). It hands each beat to `send`, which offers it to
 * the next lease request (HttpJobChannel), and posts it on its own through `direct` only when no
 * lease takes it in time: every job slot is busy and the runner is not leasing. Leases wait no
 * longer than until the next beat is due, and the coordinator caps a beat-carrying lease's wait
 * at its heartbeat interval, so a host that only long-polls is never seen as offline.
 */
import type { CarriedBeat, LeaseBeat } from "../jobs/http-channel";

/** Longest wait for a lease to take a beat before it is posted on its own. */
const PICKUP_MS = 5_000;

interface Offer {
  body: unknown;
  nextInMs: number;
  taken(): void;
  resolve(answer: unknown): void;
  reject(error: unknown): void;
}

export class LeasePulse implements LeaseBeat {
  private offered: Offer | null = null;
  /** When the loop's next beat is due: a lease that carries none waits no longer. */
  private nextAt = 0;

  constructor(
    /** Called when a beat is offered: the runner leases now instead of after its poll pause. */
    private readonly onOffer: () => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The loop's next beat is due at `at` (epoch ms). */
  expect(at: number): void {
    this.nextAt = at;
  }

  waitMs(max: number): number {
    return Math.max(0, Math.min(max, this.nextAt - this.now()));
  }

  due(): boolean {
    return this.offered !== null;
  }

  take(): CarriedBeat | null {
    const offer = this.offered;
    if (!offer) return null;
    this.offered = null;
    offer.taken();
    this.nextAt = this.now() + offer.nextInMs;
    return { body: offer.body, answered: offer.resolve, failed: offer.reject };
  }

  /**
   * Sends `body` on the next lease, or through `direct` when no lease takes it within
   * min(5 s, half the interval); resolves with the coordinator's answer either way. `intervalMs`:
   * when the beat after this one is due, which bounds the carrying lease's wait. One beat at a
   * time: the loop awaits each.
   */
  send<T>(body: unknown, intervalMs: number, direct: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const offer: Offer = {
        body,
        nextInMs: intervalMs,
        taken: () => clearTimeout(timer),
        resolve: (answer) => resolve(answer as T),
        reject,
      };
      const timer = setTimeout(
        () => {
          if (this.offered !== offer) return;
          this.offered = null;
          direct().then(resolve, reject);
        },
        Math.min(PICKUP_MS, intervalMs / 2),
      );
      this.offered = offer;
      this.onOffer();
    });
  }

  /** The agent stops: a beat no lease took fails instead of waiting for one. */
  cancel(): void {
    const offer = this.offered;
    this.offered = null;
    offer?.taken();
    offer?.reject(new Error("the agent is stopping"));
  }
}
