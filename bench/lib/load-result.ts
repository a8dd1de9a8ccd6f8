/** What bench/load-gen.ts prints (one JSON line on stdout) and bench/api-load.ts reads. */

export interface Quantiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface LoadResult {
  url: string;
  rate: number;
  /** Requests scheduled in the measured window (warm-up excluded). */
  scheduled: number;
  completed: number;
  /** Non-2xx answers, timeouts and connection errors in the measured window. */
  errors: number;
  /** Failed requests by cause (`HTTP 503`, `TimeoutError`, `ECONNRESET` …). */
  failures: Record<string, number>;
  elapsedSec: number;
  achievedRate: number;
  responseBytes: number;
  /**
   * From the moment the request was actually sent until its body was fully read, over all requests:
   * a failed one counts with its time to failure (a timeout as ≈ the load generator's timeout).
   */
  latencyMs: Quantiles;
  /** From the moment it was scheduled: adds the generator's own lateness (no coordinated omission). */
  fromScheduleMs: Quantiles;
}

export function parseLoadResult(stdout: string): LoadResult {
  const line = stdout.trim().split("\n").at(-1) ?? "";
  const value: unknown = JSON.parse(line);
  if (typeof value !== "object" || value === null || !("latencyMs" in value) || !("completed" in value)) {
    throw new Error(`load-gen printed no result: ${stdout.slice(0, 500)}`);
  }
  return value as LoadResult;
}
