#!/usr/bin/env bun
/**
 * Rollback to healthy: `dist/odooops rollback bench --yes --wait` (spawn → exit) against a cold
 * `docker run --detach` of the same release image, shaped like the env's container (its network,
 * odoo.conf and data dir mounted, same limits) on a free loopback port, until
 * `/web/health?db_server_status=1` answers 200. Same PostgreSQL, nginx, dockerd and Odoo stand-in,
 * in the same run. Target: the rollback ≤ 10 s (absolute, with the stand-in).
 *
 *   bun bench/rollback.ts    (BENCH_ROUNDS=5 measured rounds after BENCH_WARMUP=1; BENCH_POLL_MS=50
 *                             is the baseline's health poll interval)
 *
 * Setup (bench/lib/deploy-host.ts, not timed): one dev env, two deployed commits with the same
 * addons (README only), `deploy.drainSec: 0`. Each round rolls back to the other release, so the
 * rounds go back and forth; the baseline starts the image that round's rollback goes to. Rounds
 * alternate which side goes first. Reports only; a missed target prints MISSED, exit code 0.
 */
import { run } from "../src/exec/run";
import type { JobView } from "../src/jobs/view";
import {
  header,
  logTime,
  referenceCalls,
  releaseLikeRun,
  startDeployHost,
  stepDurations,
  waitHealthy,
  type DeployHost,
} from "./lib/deploy-host";
import { freePort } from "./lib/proc";
import { median, ms, ratio } from "./lib/stats";
import { printTable, verdict } from "./lib/table";

const bounded = (v: string | undefined, dflt: number, min: number, max: number) =>
  Math.min(Math.max(Number(v ?? dflt) || dflt, min), max);
const ROUNDS = bounded(process.env.BENCH_ROUNDS, 5, 1, 50);
const WARMUP = process.env.BENCH_WARMUP === "0" ? 0 : bounded(process.env.BENCH_WARMUP, 1, 1, 5);
const POLL_MS = bounded(process.env.BENCH_POLL_MS, 50, 10, 1000);
const TARGET_MS = 10_000;

interface Ours {
  totalMs: number;
  /** Spawn → the job's "nginx now serves" line: users get the previous release from here on. */
  servingMs: number;
  image: string;
  /** Job created → first step started. */
  queueMs: number;
  /** start step: until `docker run` returned (inspect, rm, port pair, run). */
  runMs: number;
  /** start step: `docker run` returned → healthy on its own port (probed every 250 ms). */
  healthMs: number;
  /** switch step: vhost + nginx -t + reload + health through nginx. */
  nginxMs: number;
  /** switch step: after nginx serves it, stopping the old release (drain 0). */
  stopMs: number;
  pruneMs: number;
  /** Job created → job finished. */
  jobMs: number;
  steps: Record<string, number>;
}

interface Cold {
  totalMs: number;
  /** `docker run --detach` spawn → exit. */
  runMs: number;
}

const at = (iso: string | null) => (iso ? Date.parse(iso) : Number.NaN);

function step(job: JobView, name: string) {
  const s = job.steps.find((x) => x.name === name);
  if (!s?.startedAt || !s.finishedAt)
    throw new Error(`job ${job.id}: step ${name} did not run: ${JSON.stringify(job.steps)}`);
  return { start: at(s.startedAt), end: at(s.finishedAt) };
}

async function ours(h: DeployHost, target: string): Promise<Ours> {
  const t = await h.timedJob(["rollback", h.env.slug, "--yes", "--wait"]);
  const serves = logTime(t.log, "nginx now serves");
  const started = logTime(t.log, ": started ");
  if (serves === null || started === null)
    throw new Error(`job ${t.job.id}: no "started"/"nginx now serves" line in its log:\n${t.log}`);
  const now = await h.serving();
  if (now.image !== target) throw new Error(`after the rollback ${now.name} runs ${now.image}, expected ${target}`);
  const start = step(t.job, "start");
  const sw = step(t.job, "switch");
  const prune = step(t.job, "prune");
  const firstStart = Math.min(...t.job.steps.map((s) => at(s.startedAt)).filter(Number.isFinite));
  return {
    totalMs: t.totalMs,
    servingMs: serves - t.startedAt,
    image: now.image,
    queueMs: firstStart - at(t.job.createdAt),
    runMs: started - start.start,
    healthMs: start.end - started,
    nginxMs: serves - sw.start,
    stopMs: sw.end - serves,
    pruneMs: prune.end - prune.start,
    jobMs: at(t.job.finishedAt) - at(t.job.createdAt),
    steps: stepDurations(t.job),
  };
}

async function cold(h: DeployHost, image: string, tag: string): Promise<Cold> {
  const shape = await h.serving();
  const name = `${h.prefix}-cold-${tag}`;
  const ports = { http: freePort(), longpoll: freePort() };
  const t0 = performance.now();
  await run({ argv: releaseLikeRun(shape, name, image, ports) });
  const runMs = performance.now() - t0;
  await waitHealthy(`http://127.0.0.1:${ports.http}`, 60_000, POLL_MS);
  const totalMs = performance.now() - t0;
  // Not timed.
  await run({ argv: ["docker", "rm", "--force", name] });
  return { totalMs, runMs };
}

function report(o: Ours[], c: Cold[], orders: string[], release: Map<string, string>): void {
  printTable(
    "Per round — ours: spawn → exit of `rollback --yes --wait`, and spawn → nginx serving the previous release (job log); cold: `docker run -d` → health 200",
    [
      "round",
      "order",
      "to release",
      "ours total",
      "ours to serving",
      "cold docker run",
      "ratio total",
      "ratio to serving",
    ],
    o.map((x, i) => [
      String(i + 1),
      orders[i] ?? "",
      release.get(x.image) ?? x.image,
      ms(x.totalMs, 0),
      ms(x.servingMs, 0),
      ms(c[i]?.totalMs ?? Number.NaN, 0),
      ratio(x.totalMs, c[i]?.totalMs ?? Number.NaN),
      ratio(x.servingMs, c[i]?.totalMs ?? Number.NaN),
    ]),
  );
  const mo = (f: (x: Ours) => number) => median(o.map(f));
  const cTotal = median(c.map((x) => x.totalMs));
  const cRun = median(c.map((x) => x.runMs));
  printTable(
    `rollback --wait vs a cold docker run of the same image — medians of ${o.length} rounds (target: rollback ≤ ${TARGET_MS / 1000} s)`,
    ["measure", "cold docker run (baseline)", "odooops rollback", "ratio", "target"],
    [
      [
        "total: spawn → exit (old release stopped, pruned)",
        ms(cTotal, 0),
        ms(
          mo((x) => x.totalMs),
          0,
        ),
        ratio(
          mo((x) => x.totalMs),
          cTotal,
        ),
        verdict(mo((x) => x.totalMs) <= TARGET_MS),
      ],
      [
        "to serving: spawn → healthy through nginx",
        ms(cTotal, 0),
        ms(
          mo((x) => x.servingMs),
          0,
        ),
        ratio(
          mo((x) => x.servingMs),
          cTotal,
        ),
        verdict(mo((x) => x.servingMs) <= TARGET_MS),
      ],
      [
        "median of per-round ratios, total",
        "—",
        "—",
        ratio(median(o.map((x, i) => x.totalMs / (c[i]?.totalMs ?? Number.NaN))), 1),
        "—",
      ],
      [
        "best round of each side, total",
        ms(Math.min(...c.map((x) => x.totalMs)), 0),
        ms(Math.min(...o.map((x) => x.totalMs)), 0),
        ratio(Math.min(...o.map((x) => x.totalMs)), Math.min(...c.map((x) => x.totalMs))),
        "—",
      ],
    ],
  );
  const stepsSum = (x: Ours) => Object.values(x.steps).reduce((a, b) => a + b, 0);
  printTable(
    "Where the time goes — medians (ours: job step times and job log timestamps)",
    ["part", "cold docker run", "odooops rollback"],
    [
      [
        "docker run (ours: + inspect, rm --force, port pair)",
        ms(cRun, 0),
        ms(
          mo((x) => x.runMs),
          0,
        ),
      ],
      [
        `health on its own port (baseline polls every ${POLL_MS} ms, ours 250 ms)`,
        ms(median(c.map((x) => x.totalMs - x.runMs)), 0),
        ms(
          mo((x) => x.healthMs),
          0,
        ),
      ],
      [
        "vhost + nginx -t + reload + health through nginx",
        "—",
        ms(
          mo((x) => x.nginxMs),
          0,
        ),
      ],
      [
        "stop the old release (drainSec 0)",
        "—",
        ms(
          mo((x) => x.stopMs),
          0,
        ),
      ],
      [
        "prune",
        "—",
        ms(
          mo((x) => x.pruneMs),
          0,
        ),
      ],
      [
        "job queued → first step (agent lease)",
        "—",
        ms(
          mo((x) => x.queueMs),
          0,
        ),
      ],
      [
        "in the job between/after steps",
        "—",
        ms(
          mo((x) => x.jobMs - x.queueMs - stepsSum(x)),
          0,
        ),
      ],
      [
        "CLI around the job: start, POST, events, final GET",
        "—",
        ms(
          mo((x) => x.totalMs - x.jobMs),
          0,
        ),
      ],
    ],
  );
}

async function main(): Promise<void> {
  const h = await startDeployHost({ drainSec: 0, runTests: true, rehearse: true });
  try {
    await header(`rollback ${h.env.slug}: ${h.releases.map((r) => r.image).join(" ⇄ ")}`);
    console.log(`${WARMUP} warm-up round(s), then ${ROUNDS} measured rounds, alternating which side goes first`);
    const release = new Map(h.releases.map((r, i) => [r.image, `#${i + 1} ${r.sha.slice(0, 7)}`]));
    const o: Ours[] = [];
    const c: Cold[] = [];
    const orders: string[] = [];
    for (let i = 0; i < WARMUP + ROUNDS; i++) {
      const tag = i < WARMUP ? `w${i + 1}` : String(i - WARMUP + 1);
      const serving = (await h.serving()).image;
      const target = h.releases.find((r) => r.image !== serving)?.image;
      if (!target) throw new Error(`no release other than ${serving}`);
      const oursFirst = i % 2 === 0;
      let x: Ours;
      let y: Cold;
      if (oursFirst) {
        x = await ours(h, target);
        y = await cold(h, target, tag);
      } else {
        y = await cold(h, target, tag);
        x = await ours(h, target);
      }
      console.error(
        `round ${tag}: rollback ${ms(x.totalMs, 0)} (serving after ${ms(x.servingMs, 0)}), cold docker run ${ms(y.totalMs, 0)}`,
      );
      if (i < WARMUP) continue;
      o.push(x);
      c.push(y);
      orders.push(oursFirst ? "ours→cold" : "cold→ours");
    }
    report(o, c, orders, release);
    console.log(`\n${await referenceCalls(h.prefix)}`);
  } finally {
    await h.stop();
  }
}

await main();
