#!/usr/bin/env bun
/**
 * Open-loop load over a mix of API calls (see `call`): authenticated reads, mutating calls (audited),
 * a refused token (a coalesced denial) and, with BENCH_LOGINS=1, logins (through the login throttle).
 * Request i is sent at start + i/rate whatever earlier ones do, in its own process so its CPU is not
 * the daemon's.
 *
 *   BENCH_TOKEN=… BENCH_PASSWORD=… bun bench/mix-gen.ts --url http://127.0.0.1:PORT [--rate 200] [--duration 20] [--warmup 3]
 *
 * Prints one JSON line: per kind of call, every latency (ms) and the failures. Bounded: at most
 * MAX_REQUESTS requests, each with a timeout.
 */
import { parseArgs } from "node:util";

const MAX_REQUESTS = 20_000;
const MAX_DURATION_SEC = 60;
const REQUEST_TIMEOUT_MS = 2_000;

interface Call {
  kind: string;
  method: string;
  path: string;
  body?: string;
  auth: "token" | "bad" | "none";
  expect: number;
}

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    rate: { type: "string", default: "200" },
    duration: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
  },
});
if (!values.url) throw new Error("--url is required");
const base = `${values.url.replace(/\/+$/, "")}/api/v1`;
const rate = Number(values.rate);
const durationSec = Math.min(Number(values.duration), MAX_DURATION_SEC);
const warmupSec = Math.min(Number(values.warmup), MAX_DURATION_SEC);
if (!(rate > 0) || !(durationSec > 0) || !(warmupSec >= 0))
  throw new Error("--rate and --duration must be > 0, --warmup ≥ 0");
const token = process.env.BENCH_TOKEN ?? "";
const password = process.env.BENCH_PASSWORD ?? "";
if (!token || !password) throw new Error("BENCH_TOKEN and BENCH_PASSWORD are required");

/**
 * Logins are off by default: each is an argon2id verification (tens of ms of CPU on both sides) that
 * drowns what is measured here; the throttle adds two map lookups to it.
 */
const logins = process.env.BENCH_LOGINS === "1";

/** Out of every 100 calls: 55 list envs, 10 whoami, 10 list jobs, 5 list tokens, 10 token creates, 5 failing stops, 5 bad tokens (or 4 and a login). */
function call(i: number): Call {
  const n = i % 100;
  if (n < 55)
    return { kind: "read: GET /environments", method: "GET", path: "/environments", auth: "token", expect: 200 };
  if (n < 65)
    return { kind: "read: GET /auth/whoami", method: "GET", path: "/auth/whoami", auth: "token", expect: 200 };
  if (n < 75) return { kind: "read: GET /jobs", method: "GET", path: "/jobs?limit=20", auth: "token", expect: 200 };
  if (n < 80)
    return { kind: "read: GET /auth/tokens", method: "GET", path: "/auth/tokens", auth: "token", expect: 200 };
  if (n < 90)
    return {
      kind: "write: POST /auth/tokens",
      method: "POST",
      path: "/auth/tokens",
      body: JSON.stringify({ name: `bench-${i}`, ttlDays: 1 }),
      auth: "token",
      expect: 201,
    };
  if (n < 95)
    return {
      kind: "write: POST /environments/x/stop (404)",
      method: "POST",
      path: "/environments/bench-missing/stop",
      body: "{}",
      auth: "token",
      expect: 404,
    };
  if (n < 99 || !logins)
    return { kind: "denied: bad token (401)", method: "GET", path: "/environments", auth: "bad", expect: 401 };
  return {
    kind: "login: POST /auth/login",
    method: "POST",
    path: "/auth/login",
    body: JSON.stringify({ username: "admin", password }),
    auth: "none",
    expect: 200,
  };
}

interface Sample {
  kind: string;
  ms: number;
  failure?: string;
}

async function one(c: Call): Promise<Sample> {
  const headers: Record<string, string> = c.body ? { "content-type": "application/json" } : {};
  if (c.auth === "token") headers.authorization = `Bearer ${token}`;
  if (c.auth === "bad") headers.authorization = "Bearer odo_bench-not-a-token";
  const sentAt = performance.now();
  try {
    const res = await fetch(`${base}${c.path}`, {
      method: c.method,
      headers,
      body: c.body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await res.arrayBuffer();
    return {
      kind: c.kind,
      ms: performance.now() - sentAt,
      failure: res.status === c.expect ? undefined : `HTTP ${res.status}`,
    };
  } catch (e) {
    const err = e as { name?: string; code?: unknown };
    return {
      kind: c.kind,
      ms: performance.now() - sentAt,
      failure: typeof err.code === "string" ? err.code : (err.name ?? "Error"),
    };
  }
}

async function phase(first: number, count: number): Promise<Sample[]> {
  const inflight: Promise<Sample>[] = [];
  const startedAt = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = startedAt + (i * 1000) / rate - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    inflight.push(one(call(first + i)));
  }
  return Promise.all(inflight);
}

const warmupCount = Math.min(Math.round(warmupSec * rate), MAX_REQUESTS);
const measuredCount = Math.min(Math.max(1, Math.round(durationSec * rate)), MAX_REQUESTS);
if (warmupCount > 0) await phase(0, warmupCount);
const samples = await phase(warmupCount, measuredCount);
const kinds: Record<string, { latencies: number[]; failures: Record<string, number> }> = {};
for (const s of samples) {
  kinds[s.kind] ??= { latencies: [], failures: {} };
  const k = kinds[s.kind];
  k.latencies.push(s.ms);
  if (s.failure) k.failures[s.failure] = (k.failures[s.failure] ?? 0) + 1;
}
console.log(JSON.stringify({ rate, scheduled: measuredCount, kinds }));
