/**
 * The agent's loops that talk to a coordinator which may be away (heartbeats, the outbox of job
 * reports): run a step, sleep for the delay it returns, again. A wake() cuts the sleep short
 * (the coordinator answered again, a report is waiting); a wake() while the step runs is not
 * kept: the step sees the new work itself. stop() ends the loop after the step that is running.
 * A step handles its own failures (it returns the delay to back off by) and never throws.
 */
export function wakeableLoop(step: (previousDelayMs: number) => Promise<number>) {
  let stopped = false;
  let wake: (() => void) | null = null;
  const done = (async () => {
    let delay = 0;
    while (!stopped) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
      if (stopped) break;
      delay = await step(delay);
    }
  })();
  return {
    wake: () => wake?.(),
    /** Resolves once the loop has ended. */
    stop(): Promise<void> {
      stopped = true;
      wake?.();
      return done;
    },
  };
}

/** The delay after another failure: doubled, at least `floorMs`, at most `maxMs`. */
export function backoff(previousMs: number, floorMs: number, maxMs: number): number {
  return Math.min(Math.max(previousMs * 2, floorMs), maxMs);
}
