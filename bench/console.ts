#!/usr/bin/env bun
/**
 * The web console's first page with 100 environments (issue #19): the real daemon (dist/odooops) on
 * loopback, 100 envs seeded, each with a stored certificate. Measures, in one run:
 *   - server time of `GET /` (logged in, gzip) against a baseline in the same run: the API's JSON
 *     list of the same 100 envs (`GET /api/v1/environments`), requests interleaved one for one;
 *   - transferred bytes of a first load: the page, its stylesheet and scripts, as sent (gzip);
 *   - what the console adds to the daemon's idle RSS, in BENCH_ROUNDS rounds of two fresh daemons
 *     on copies of the same seeded root, alive side by side: one serves API traffic only, the other
 *     the same API traffic plus the console. Each RSS sample is taken once the process has settled
 *     (RSS stopped falling, see settledRss), and the console's cost is the difference of the two
 *     daemons' growth since their own settled start; median and spread over the rounds.
 * Targets: p95 < 20 ms, < 100 KB, < 5 MB. The CLI never imports src/console (test/architecture.test.ts).
 *
 *   bun run build && bun bench/console.ts   (BENCH_REQUESTS=300, at most 2000; BENCH_ROUNDS=5, at most 20)
 *
 * Reports only; never fails on a time. Loopback only.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { saveCertificate } from "../src/certs/store";
import { resolvePaths } from "../src/config/paths";
import { run } from "../src/exec/run";
import { ADMIN_PASSWORD, type Daemon, startDaemon } from "./lib/daemon";
import { procStatusBytes } from "./lib/proc";
import { seedEnvironments } from "./lib/seed";
import { mb, median, ms, percentile, ratio, sorted } from "./lib/stats";
import { printTable, verdict } from "./lib/table";

const ENVS = 100;
const REQUESTS = Math.min(Number(process.env.BENCH_REQUESTS ?? 300) || 300, 2000);
const ROUNDS = Math.min(Number(process.env.BENCH_ROUNDS ?? 5) || 5, 20);
const WARMUP = 30;
const TIERS_SUB = ["dev", "preview", "staging", ""];
/**
 * Settling: RSS sampled every SAMPLE_MS; settled once it has not fallen by more than NOISE for
 * QUIET_MS, longer than the daemon waits before its idle collection and between two of them
 * (src/daemon/idle-gc.ts: 5 s of quiet, 10 s apart), so a sample never lands just before one.
 */
const SAMPLE_MS = 200;
const QUIET_MS = 11_000;
const SETTLE_MAX_MS = 30_000;
const NOISE_BYTES = 256 * 1024;

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: number;
  body: Buffer;
}

/** node:http, not fetch: the bytes on the wire, not decompressed. */
function get(url: string, headers: Record<string, string>, method = "GET", body?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const all = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes: all.length, body: all });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

function cookiesOf(r: Raw): string {
  const set = r.headers["set-cookie"] ?? [];
  return (Array.isArray(set) ? set : [set]).map((c) => c.split(";")[0]).join("; ");
}

/** One self-signed certificate naming every env's domain, stored for each as the daemon would. */
async function seedCertificates(root: string, dir: string): Promise<void> {
  const domains = Array.from({ length: ENVS }, (_, i) => {
    const slug = `bench-${String(i).padStart(4, "0")}`;
    return [slug, TIERS_SUB[i % 4], "odoo.localhost"].filter(Boolean).join(".");
  });
  const [key, crt] = [join(dir, "k.pem"), join(dir, "c.pem")];
  await run({
    argv: ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
      .concat(["-keyout", key, "-out", crt, "-days", "40", "-subj", "/CN=bench"])
      .concat(["-addext", `subjectAltName=${domains.map((d) => `DNS:${d}`).join(",")}`]),
  });
  const [fullchainPem, privkeyPem] = [await Bun.file(crt).text(), await Bun.file(key).text()];
  for (const d of domains)
    saveCertificate(resolvePaths(root).certsDir, d, { fullchainPem, privkeyPem, source: "imported" });
}

/**
 * VmRSS once the process has settled: sampled until it has not fallen (by more than the noise of
 * a heartbeat) for QUIET_MS, so freed memory the runtime or allocator returns a little later
 * (a collection, mimalloc's purge delay) is not counted; the median of that quiet window. Bounded.
 */
async function settledRss(pid: number): Promise<number> {
  const t0 = performance.now();
  let low = procStatusBytes(pid, "VmRSS");
  let window: number[] = [low];
  let quietSince = t0;
  while (performance.now() - quietSince < QUIET_MS && performance.now() - t0 < SETTLE_MAX_MS) {
    await Bun.sleep(SAMPLE_MS);
    const rss = procStatusBytes(pid, "VmRSS");
    if (rss < low - NOISE_BYTES) {
      [low, window, quietSince] = [rss, [], performance.now()];
    } else low = Math.min(low, rss);
    window.push(rss);
  }
  return median(window);
}

interface Side {
  daemon: Daemon;
  fresh: number;
  afterApi: number;
  end: number;
}

/** The console's session for `d`: logged in through its own form (CSRF nonce, then POST). */
async function consoleLogin(d: Daemon): Promise<string> {
  const login = await get(`${d.url}/login`, {});
  const nonce = /name="_csrf" value="([^"]+)"/.exec(login.body.toString())?.[1] ?? "";
  const form = new URLSearchParams({ _csrf: nonce, username: "admin", password: ADMIN_PASSWORD }).toString();
  const headers = { cookie: cookiesOf(login), "content-type": "application/x-www-form-urlencoded" };
  const loggedIn = await get(`${d.url}/login`, headers, "POST", form);
  if (loggedIn.status !== 303) throw new Error(`console login answered ${loggedIn.status}`);
  return cookiesOf(loggedIn);
}

/** The same password check (argon2id) through the API, so both daemons pay for one login. */
async function apiLogin(d: Daemon): Promise<void> {
  const body = JSON.stringify({ username: "admin", password: ADMIN_PASSWORD });
  const r = await get(`${d.url}/api/v1/auth/login`, { "content-type": "application/json" }, "POST", body);
  if (r.status !== 200) throw new Error(`API login answered ${r.status}`);
}

const timed = async (fn: () => Promise<Raw>) => {
  const t0 = performance.now();
  const r = await fn();
  if (r.status !== 200) throw new Error(`answered ${r.status}`);
  return performance.now() - t0;
};

interface Round {
  api: Side;
  both: Side;
  pageMs: number[];
  listMs: number[];
}

/**
 * One round: `api` serves API traffic only, `both` the same API traffic and the console. The
 * requests alternate between the two, so both live through the same moments of the machine.
 */
async function round(template: string, dir: string, apiFirst: boolean): Promise<Round> {
  const roots = [join(dir, "api"), join(dir, "both")];
  for (const r of roots) cpSync(template, r, { recursive: true });
  const started: Daemon[] = [];
  try {
    // Started one after the other in the round's order: the first is not favoured twice.
    for (const r of apiFirst ? roots : [...roots].reverse()) started.push(await startDaemon(r));
    const [a, b] = apiFirst ? started : [...started].reverse();
    if (!a || !b) throw new Error("a daemon did not start");
    const [aFresh, bFresh] = await Promise.all([settledRss(a.pid), settledRss(b.pid)]);
    const list = (d: Daemon) => () =>
      get(`${d.url}/api/v1/environments`, { authorization: `Bearer ${d.token}`, "accept-encoding": "gzip" });
    await apiLogin(a);
    const session = await consoleLogin(b);
    const page = () => get(`${b.url}/`, { cookie: session, "accept-encoding": "gzip" });

    // API as warm as the timed loop will make it, on both, before either serves a console page.
    for (let i = 0; i < REQUESTS; i++) {
      await timed(list(a));
      await timed(list(b));
    }
    const [aApi, bApi] = await Promise.all([settledRss(a.pid), settledRss(b.pid)]);
    for (let i = 0; i < WARMUP; i++) {
      await timed(list(a));
      await timed(page);
    }
    const pageMs: number[] = [];
    const listMs: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      await timed(list(a));
      pageMs.push(await timed(page));
      listMs.push(await timed(list(b)));
    }
    const [aEnd, bEnd] = await Promise.all([settledRss(a.pid), settledRss(b.pid)]);
    return {
      api: { daemon: a, fresh: aFresh, afterApi: aApi, end: aEnd },
      both: { daemon: b, fresh: bFresh, afterApi: bApi, end: bEnd },
      pageMs,
      listMs,
    };
  } finally {
    await Promise.all(started.map((d) => d.stop()));
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  }
}

/** The console's share: the console daemon's growth since its settled start minus the API-only one's. */
const consoleCost = (r: Round) => r.both.end - r.both.fresh - (r.api.end - r.api.fresh);
/** The earlier single-daemon figure (same daemon, after API traffic → after console traffic), for comparison. */
const sameDaemonCost = (r: Round) => r.both.end - r.both.afterApi;

async function firstLoadBytes(template: string, dir: string) {
  const root = join(dir, "bytes");
  cpSync(template, root, { recursive: true });
  const d = await startDaemon(root);
  try {
    const first = await get(`${d.url}/`, { cookie: await consoleLogin(d), "accept-encoding": "gzip" });
    const html = new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(first.body)));
    if (!html.includes("bench-0099")) throw new Error("the page does not list the 100 envs");
    // 40-day certificates: "39 d" (or 40 d within the first seconds), read from the index, not the files.
    if (!/>(39|40) d</.test(html)) throw new Error("the page shows no certificate days");
    const assets = [...html.matchAll(/(?:href|src)="(\/assets\/[^"]+\.(?:css|js))"/g)].map((m) => m[1] as string);
    let assetBytes = 0;
    for (const a of assets) assetBytes += (await get(`${d.url}${a}`, { "accept-encoding": "gzip" })).bytes;
    return { page: first.bytes, assets: assets.length, assetBytes, total: first.bytes + assetBytes };
  } finally {
    await d.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

const tmp = mkdtempSync(join(tmpdir(), "odooops-bench-console-"));
const template = join(tmp, "template");
try {
  // First start creates the state; the seed goes in while it is stopped. Every daemon below runs
  // on its own copy of this root.
  await (await startDaemon(template)).stop();
  seedEnvironments(template, ENVS);
  await seedCertificates(template, tmp);

  const bytes = await firstLoadBytes(template, tmp);
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const r = await round(template, tmp, i % 2 === 0);
    rounds.push(r);
    console.error(`round ${i + 1}/${ROUNDS}: console adds ${mb(consoleCost(r))}`);
  }

  const [p, l] = [sorted(rounds.flatMap((r) => r.pageMs)), sorted(rounds.flatMap((r) => r.listMs))];
  const p95 = percentile(p, 95);
  printTable(
    `console first page, ${ENVS} envs, ${ROUNDS} rounds × ${REQUESTS} requests each (interleaved), dist/odooops on loopback`,
    ["measure", "console GET /", "baseline: API JSON list", "ratio", "target", ""],
    [
      ["p50", ms(percentile(p, 50)), ms(percentile(l, 50)), ratio(percentile(p, 50), percentile(l, 50)), "", ""],
      ["p95", ms(p95), ms(percentile(l, 95)), ratio(p95, percentile(l, 95)), "< 20 ms", verdict(p95 < 20)],
      ["max", ms(p[p.length - 1] ?? Number.NaN), ms(l[l.length - 1] ?? Number.NaN), "", "", ""],
      [
        "transferred (gzip)",
        `${(bytes.total / 1024).toFixed(1)} KB (page ${(bytes.page / 1024).toFixed(1)} KB + ${bytes.assets} assets ${(bytes.assetBytes / 1024).toFixed(1)} KB)`,
        "",
        "",
        "< 100 KB",
        verdict(bytes.total < 100 * 1024),
      ],
    ],
  );

  const signed = (b: number) => `${b >= 0 ? "+" : ""}${mb(b)}`;
  printTable(
    "daemon VmRSS, settled (stopped falling for 11 s): API-only daemon vs API + console daemon, side by side",
    ["round", "API only: start → end", "API + console: start → after API → end", "console adds", "same daemon"],
    rounds.map((r, i) => [
      `${i + 1} (${i % 2 === 0 ? "API-only started first" : "console started first"})`,
      `${mb(r.api.fresh)} → ${mb(r.api.end)} (${signed(r.api.end - r.api.fresh)})`,
      `${mb(r.both.fresh)} → ${mb(r.both.afterApi)} → ${mb(r.both.end)} (${signed(r.both.end - r.both.fresh)})`,
      signed(consoleCost(r)),
      signed(sameDaemonCost(r)),
    ]),
  );
  const costs = sorted(rounds.map(consoleCost));
  const mid = median(costs);
  printTable(
    `console's idle RSS cost over ${ROUNDS} rounds (target < +5 MB on the median)`,
    ["median", "min", "max", "spread", "same-daemon median", "target", ""],
    [
      [
        signed(mid),
        signed(costs[0] ?? Number.NaN),
        signed(costs[costs.length - 1] ?? Number.NaN),
        mb((costs[costs.length - 1] ?? Number.NaN) - (costs[0] ?? Number.NaN)),
        signed(median(rounds.map(sameDaemonCost))),
        "< +5 MB",
        verdict(mid < 5 * 1024 * 1024),
      ],
    ],
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
