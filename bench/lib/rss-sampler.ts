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
  /** Every sample: wall clock (ms since the epoch) and VmRSS, to find the peak of a phase. */
  trace: { at: number; bytes: number }[];
}

/** The highest VmRSS sampled in [from, to] (ms since the epoch), or null when none was. */
export function peakBetween(trace: Sampled<unknown>["trace"], from: number, to: number): number | null {
  let peak: number | null = null;
  for (const s of trace) if (s.at >= from && s.at <= to && (peak === null || s.bytes > peak)) peak = s.bytes;
  return peak;
}

export async function sampleRss<T>(pid: number, op: () => Promise<T>, intervalMs = 100): Promise<Sampled<T>> {
  const beforeBytes = procStatusBytes(pid, "VmRSS");
  let peakBytes = beforeBytes;
  let peakAtMs = 0;
  const t0 = performance.now();
  let samples = 0;
  const trace: Sampled<T>["trace"] = [];
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
        trace.push({ at: Date.now(), bytes: rss });
      } catch {
        // The process is gone: the operation will fail on its own.
        return;
      }
      await Bun.sleep(intervalMs);
    }
  })();
  try {
    const value = await op();
    return { value, beforeBytes, peakBytes, peakAtMs, samples, trace };
  } finally {
    running = false;
    await loop;
  }
}
