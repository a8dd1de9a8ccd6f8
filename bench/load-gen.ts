#!/usr/bin/env bun
/**
 * Open-loop HTTP load generator: request i is sent at start + i/rate whether or not earlier ones
 * have answered, so a slow server shows up as latency instead of silently lowering the rate.
 * Runs in its own process so its CPU use is not charged to the daemon's event loop.
 *
 *   BENCH_TOKEN=… bun bench/load-gen.ts --url http://127.0.0.1:PORT/path [--rate 200] [--duration 10] [--warmup 2]
 *
 * Prints one JSON line (see lib/load-result.ts). Bounded: ≤ MAX_REQUESTS requests, each with a
 * timeout, and a hard deadline after the schedule ends.
 */
import { parseArgs } from "node:util";
import type { LoadResult, Quantiles } from "./lib/load-result";
import { percentile, sorted } from "./lib/stats";

const MAX_REQUESTS = 20_000;
const MAX_DURATION_SEC = 60;
const REQUEST_TIMEOUT_MS = 2_000;

interface Sample {
  scheduledAt: number;
  sentAt: number;
  doneAt: number;
  ok: boolean;
  bytes: number;
  /** Why a failed request failed: `HTTP 503`, `TimeoutError`, `ECONNRESET` … */
  failure?: string;
}

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    rate: { type: "string", default: "200" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
  },
});
if (!values.url) throw new Error("--url is required");
const url = values.url;
const rate = Number(values.rate);
const durationSec = Math.min(Number(values.duration), MAX_DURATION_SEC);
const warmupSec = Math.min(Number(values.warmup), MAX_DURATION_SEC);
if (!(rate > 0) || !(durationSec > 0) || !(warmupSec >= 0))
  throw new Error("--rate and --duration must be > 0, --warmup ≥ 0");
const headers: Record<string, string> = process.env.BENCH_TOKEN
  ? { authorization: `Bearer ${process.env.BENCH_TOKEN}` }
  : {};

const intervalMs = 1000 / rate;
const warmupCount = Math.min(Math.round(warmupSec * rate), MAX_REQUESTS);
const measuredCount = Math.min(Math.max(1, Math.round(durationSec * rate)), MAX_REQUESTS);

async function one(scheduledAt: number): Promise<Sample> {
  const sentAt = performance.now();
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    // The body is part of the answer: a list of 1,000 environments is mostly serialization.
    const body = await res.arrayBuffer();
    const failure = res.ok ? undefined : `HTTP ${res.status}`;
    return { scheduledAt, sentAt, doneAt: performance.now(), ok: res.ok, bytes: body.byteLength, failure };
  } catch (e) {
    // DOMExceptions (TimeoutError) carry a numeric legacy code; socket errors a string one (ECONNRESET).
    const err = e as { name?: string; code?: unknown };
    return {
      scheduledAt,
      sentAt,
      doneAt: performance.now(),
      ok: false,
      bytes: 0,
      failure: typeof err.code === "string" ? err.code : (err.name ?? "Error"),
    };
  }
}

/** Fires `count` requests on the fixed schedule and resolves when all have answered or timed out. */
async function phase(count: number): Promise<{ samples: Sample[]; startedAt: number }> {
  const inflight: Promise<Sample>[] = [];
  const startedAt = performance.now();
  for (let i = 0; i < count; i++) {
    const scheduledAt = startedAt + i * intervalMs;
    const wait = scheduledAt - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    inflight.push(one(scheduledAt));
  }
  // Every request has its own timeout, so this ends within REQUEST_TIMEOUT_MS of the last send.
  return { samples: await Promise.all(inflight), startedAt };
}

function quantiles(values: number[]): Quantiles {
  const s = sorted(values);
  return { p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), max: s.at(-1) ?? Number.NaN };
}

function countFailures(samples: Sample[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of samples) if (s.failure) counts[s.failure] = (counts[s.failure] ?? 0) + 1;
  return counts;
}

// Warm-up lets the JIT and the connection pool settle; its samples are discarded.
if (warmupCount > 0) await phase(warmupCount);
const { samples, startedAt } = await phase(measuredCount);
const good = samples.filter((s) => s.ok);
const elapsedSec = (Math.max(...samples.map((s) => s.doneAt)) - startedAt) / 1000;
const result: LoadResult = {
  url,
  rate,
  scheduled: measuredCount,
  completed: good.length,
  errors: samples.length - good.length,
  failures: countFailures(samples),
  elapsedSec,
  achievedRate: good.length / elapsedSec,
  responseBytes: good[0]?.bytes ?? 0,
  // Over all requests: dropping failures would hide an overloaded server's timeouts from the tail.
  latencyMs: quantiles(samples.map((s) => s.doneAt - s.sentAt)),
  fromScheduleMs: quantiles(samples.map((s) => s.doneAt - s.scheduledAt)),
};
console.log(JSON.stringify(result));
