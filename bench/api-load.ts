#!/usr/bin/env bun
/**
 * API under load: GET /api/v1/environments with 1,000 environments in state, open-loop at a fixed
 * rate from bench/load-gen.ts in its own process, against a bare Bun.serve baseline answering a
 * same-sized body (compiled with the same flags in this run). Also daemon RSS idle, peak and after
 * load. Targets: p95 < 5 ms, idle RSS < 80 MB.
 *
 *   bun bench/api-load.ts      (BENCH_RATE=200 req/s, BENCH_DURATION=10 s, 2 s warm-up each)
 *
 * Reports only; never fails on a time. Loopback only.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile } from "./lib/compile";
import { type Daemon, requireBinary, startDaemon } from "./lib/daemon";
import { type LoadResult, parseLoadResult } from "./lib/load-result";
import { freePort, procStatusBytes, terminate, waitFor } from "./lib/proc";
import { seedEnvironments } from "./lib/seed";
import { mb, ms, ratio } from "./lib/stats";
import { printTable, verdict } from "./lib/table";

const ENVS = 1000;
const RATE = Math.min(Number(process.env.BENCH_RATE ?? 200) || 200, 2000);
const DURATION_SEC = Math.min(Number(process.env.BENCH_DURATION ?? 10) || 10, 60);
/** A light run first: at 20 req/s requests never overlap, so it shows the bare service time. */
const LIGHT = { rate: 20, durationSec: 5 };
const IDLE_SETTLE_MS = 3000;
const P95_TARGET_MS = 5;
const IDLE_RSS_TARGET = 80 * 1024 * 1024;

/** Runs load-gen in a child process; the token goes through the environment, not argv (ps). */
async function load(
  url: string,
  token: string | null,
  rate: number,
  durationSec: number,
  onTick: () => void = () => {},
): Promise<LoadResult> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "" };
  if (token) env.BENCH_TOKEN = token;
  const gen = Bun.spawn(
    [
      process.execPath,
      join(import.meta.dir, "load-gen.ts"),
      "--url",
      url,
      "--rate",
      String(rate),
      "--duration",
      String(durationSec),
    ],
    { env, stdout: "pipe", stderr: "pipe" },
  );
  // Sample the server's memory while the load runs; VmHWM later gives the exact peak.
  const sampler = setInterval(onTick, 100);
  const [stdout, stderr, code] = await Promise.all([
    new Response(gen.stdout).text(),
    new Response(gen.stderr).text(),
    gen.exited,
  ]);
  clearInterval(sampler);
  if (code !== 0) throw new Error(`load-gen exited ${code}: ${stderr}`);
  return parseLoadResult(stdout);
}

async function fetchCount(url: string, token: string): Promise<number> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: ${await res.text()}`);
  const body: unknown = await res.json();
  if (!Array.isArray(body)) throw new Error(`GET ${url} did not answer a list`);
  return body.length;
}

interface Runs {
  light: LoadResult;
  full: LoadResult;
}

async function baselineRun(tmp: string): Promise<Runs & { idleRss: number }> {
  const bin = compile(join(import.meta.dir, "baseline-server.ts"), join(tmp, "baseline-server"));
  const port = freePort();
  const proc = Bun.spawn([bin, String(port)], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  try {
    const url = `http://127.0.0.1:${port}/api/v1/environments`;
    await waitFor("the baseline server", 10_000, async () => ((await fetch(url)).ok ? true : null));
    await Bun.sleep(IDLE_SETTLE_MS);
    const idleRss = procStatusBytes(proc.pid, "VmRSS");
    const light = await load(url, null, LIGHT.rate, LIGHT.durationSec);
    return { light, full: await load(url, null, RATE, DURATION_SEC), idleRss };
  } finally {
    await terminate(proc);
  }
}

interface DaemonFigures extends Runs {
  emptyIdleRss: number;
  idleRss: number;
  sampledPeakRss: number;
  hwm: number;
  afterRss: number;
}

async function daemonRun(root: string): Promise<DaemonFigures> {
  // First start runs the migrations and creates admin + local token; seeding needs the daemon stopped.
  let daemon: Daemon = await startDaemon(root);
  await Bun.sleep(IDLE_SETTLE_MS);
  const emptyIdleRss = procStatusBytes(daemon.pid, "VmRSS");
  await daemon.stop();
  seedEnvironments(root, ENVS);
  daemon = await startDaemon(root);
  try {
    const url = `${daemon.url}/api/v1/environments`;
    // No pagination exists: the default list (non-destroyed envs) is all of them; checked here.
    const count = await fetchCount(url, daemon.token);
    if (count !== ENVS) throw new Error(`expected ${ENVS} environments from ${url}, got ${count}`);
    await Bun.sleep(IDLE_SETTLE_MS);
    const idleRss = procStatusBytes(daemon.pid, "VmRSS");
    let sampledPeakRss = idleRss;
    const pid = daemon.pid;
    const track = () => {
      sampledPeakRss = Math.max(sampledPeakRss, procStatusBytes(pid, "VmRSS"));
    };
    const light = await load(url, daemon.token, LIGHT.rate, LIGHT.durationSec, track);
    const full = await load(url, daemon.token, RATE, DURATION_SEC, track);
    return {
      emptyIdleRss,
      idleRss,
      sampledPeakRss,
      hwm: procStatusBytes(pid, "VmHWM"),
      afterRss: procStatusBytes(pid, "VmRSS"),
      light,
      full,
    };
  } finally {
    await daemon.stop();
  }
}

function failures(l: LoadResult): string {
  const causes = Object.entries(l.failures).map(([cause, n]) => `${n} ${cause}`);
  return causes.length > 0 ? `${l.errors} (${causes.join(", ")})` : String(l.errors);
}

function loadRow(label: string, l: LoadResult): string[] {
  const q = l.latencyMs;
  return [
    label,
    `${l.rate}/s`,
    String(l.scheduled),
    String(l.completed),
    failures(l),
    `${l.achievedRate.toFixed(1)}/s`,
    `${(l.responseBytes / 1024).toFixed(0)} KiB`,
    ms(q.p50),
    ms(q.p95),
    ms(q.p99),
    ms(q.max),
    ms(l.fromScheduleMs.p99),
  ];
}

function report(base: Runs & { idleRss: number }, d: DaemonFigures): void {
  printTable(
    `GET /api/v1/environments (${ENVS} envs; no query string — the route has no pagination, so this is all of them) — open loop, 2 s warm-up per run, load generator in its own process; quantiles over all requests, a timeout (2 s) counting as its time to failure`,
    ["server", "rate", "sent", "ok", "errors", "achieved", "body", "p50", "p95", "p99", "max", "p99 from schedule"],
    [
      loadRow("bare Bun.serve (baseline)", base.light),
      loadRow("odooops daemon", d.light),
      loadRow("bare Bun.serve (baseline)", base.full),
      loadRow("odooops daemon", d.full),
    ],
  );
  const b = base.full.latencyMs;
  const r = d.full.latencyMs;
  printTable(
    `Latency at ${RATE} req/s vs baseline (target p95 < ${P95_TARGET_MS} ms)`,
    ["quantile", "baseline", "daemon", "ratio", "target"],
    [
      ["p50", ms(b.p50), ms(r.p50), ratio(r.p50, b.p50), "—"],
      ["p95", ms(b.p95), ms(r.p95), ratio(r.p95, b.p95), verdict(r.p95 < P95_TARGET_MS && d.full.errors === 0)],
      ["p99", ms(b.p99), ms(r.p99), ratio(r.p99, b.p99), "—"],
    ],
  );
  printTable(
    `Daemon memory, VmRSS from /proc/<pid>/status (target idle < ${mb(IDLE_RSS_TARGET)}; baseline = bare Bun.serve idle)`,
    ["measure", "daemon", "baseline", "ratio", "target"],
    [
      [
        "idle, empty state (3 s after start)",
        mb(d.emptyIdleRss),
        mb(base.idleRss),
        ratio(d.emptyIdleRss, base.idleRss),
        verdict(d.emptyIdleRss < IDLE_RSS_TARGET),
      ],
      [
        `idle, ${ENVS} envs (3 s after start + 1 list)`,
        mb(d.idleRss),
        mb(base.idleRss),
        ratio(d.idleRss, base.idleRss),
        verdict(d.idleRss < IDLE_RSS_TARGET),
      ],
      ["peak during load (100 ms samples)", mb(d.sampledPeakRss), "—", "—", "—"],
      ["peak since start (VmHWM)", mb(d.hwm), "—", "—", "—"],
      ["right after load", mb(d.afterRss), "—", "—", "—"],
    ],
  );
}

async function main(): Promise<void> {
  requireBinary();
  const tmp = mkdtempSync(join(tmpdir(), "odooops-bench-api-"));
  try {
    const base = await baselineRun(tmp);
    const d = await daemonRun(join(tmp, "root"));
    report(base, d);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
