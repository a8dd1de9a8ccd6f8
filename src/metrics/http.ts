/**
 * The API's own traffic: requests per method and status, and their latency as histogram buckets.
 * These are the only figures kept in memory (a request leaves no row to count at scrape time),
 * so they start from zero with the daemon, like any Prometheus counter. The middleware records
 * into a plain object; prom-client is still loaded only by the first scrape.
 */
import type { Counter as CounterClass, Registry } from "prom-client";

/** Upper bounds in seconds: API answers are mostly milliseconds, job-queueing ones up to seconds. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** Methods are counted by name; anything else a client sends is `other` (labels stay few). */
const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]);

export class RequestStats {
  /** `METHOD code` → requests answered. */
  readonly requests = new Map<string, number>();
  /** Cumulative counts per bucket of LATENCY_BUCKETS, then +Inf. */
  readonly buckets: number[] = new Array(LATENCY_BUCKETS.length + 1).fill(0);
  sumSeconds = 0;

  record(method: string, status: number, seconds: number): void {
    const key = `${METHODS.has(method) ? method : "other"} ${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    for (const [i, le] of LATENCY_BUCKETS.entries()) if (seconds <= le) this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    this.buckets[LATENCY_BUCKETS.length] = (this.buckets[LATENCY_BUCKETS.length] ?? 0) + 1;
    this.sumSeconds += seconds;
  }
}

/** One recorder per API instance (keyed by its deps): apps in one process, as in tests, count apart. */
const byOwner = new WeakMap<object, RequestStats>();

export function requestStats(owner: object): RequestStats {
  let stats = byOwner.get(owner);
  if (!stats) {
    stats = new RequestStats();
    byOwner.set(owner, stats);
  }
  return stats;
}

export function registerHttpMetrics(Counter: typeof CounterClass, registers: Registry[], stats: RequestStats): void {
  new Counter({
    name: "odooops_http_requests_total",
    help: "API requests answered since the daemon started, per method and HTTP status.",
    labelNames: ["method", "code"],
    registers,
    collect() {
      this.reset();
      for (const [key, n] of stats.requests) {
        const [method = "", code = ""] = key.split(" ");
        this.inc({ method, code }, n);
      }
    },
  });
  // A classic histogram's three series, filled from the recorder (prom-client's Histogram cannot be set).
  new Counter({
    name: "odooops_http_request_duration_seconds_bucket",
    help: "API requests answered within `le` seconds since the daemon started (cumulative histogram buckets).",
    labelNames: ["le"],
    registers,
    collect() {
      this.reset();
      for (const [i, le] of LATENCY_BUCKETS.entries()) this.inc({ le: String(le) }, stats.buckets[i] ?? 0);
      this.inc({ le: "+Inf" }, stats.buckets[LATENCY_BUCKETS.length] ?? 0);
    },
  });
  new Counter({
    name: "odooops_http_request_duration_seconds_sum",
    help: "Total seconds spent answering API requests since the daemon started.",
    registers,
    collect() {
      this.reset();
      this.inc(stats.sumSeconds);
    },
  });
  new Counter({
    name: "odooops_http_request_duration_seconds_count",
    help: "API requests timed since the daemon started.",
    registers,
    collect() {
      this.reset();
      this.inc(stats.buckets[LATENCY_BUCKETS.length] ?? 0);
    },
  });
}
