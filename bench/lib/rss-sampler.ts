/**
 * Peak resident memory of a process while an operation runs: VmRSS from /proc every
 * `intervalMs` (VmHWM alone is a since-start peak, so it cannot tell one operation from the next).
 */
import { procStatusBytes } from "./proc";

export interface Sampled<T> {
  value: T;
  /** VmRSS just before the operation. */
  beforeBytes: number;
  peakBytes: number;
  /** When the peak was sampled, ms after the operation started: which step it belongs to. */
  peakAtMs: number;
  samples: number;
}

export async function sampleRss<T>(pid: number, op: () => Promise<T>, intervalMs = 100): Promise<Sampled<T>> {
  const beforeBytes = procStatusBytes(pid, "VmRSS");
  let peakBytes = beforeBytes;
  let peakAtMs = 0;
  const t0 = performance.now();
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const rss = procStatusBytes(pid, "VmRSS");
        if (rss > peakBytes) {
          peakBytes = rss;
          peakAtMs = performance.now() - t0;
        }
        samples++;
      } catch {
        // The process is gone: the operation will fail on its own.
        return;
      }
      await Bun.sleep(intervalMs);
    }
  })();
  try {
    const value = await op();
    return { value, beforeBytes, peakBytes, peakAtMs, samples };
  } finally {
    running = false;
    await loop;
  }
}
