#!/usr/bin/env bun
/**
 * Deploy of a commit whose image is already built and whose addons did not change:
 * `dist/odooops deploy bench --sha <sha> --wait` (spawn → exit) against bench/raw-switch.sh, the
 * same switch as plain docker/nginx/curl commands (docker run of the image on a new port pair,
 * health, vhost + nginx -t + reload, health through nginx, docker stop of the old container), on
 * the same dockerd, nginx, PostgreSQL and Odoo stand-in, in the same run.
 *
 *   bun bench/deploy-reuse.ts    (BENCH_ROUNDS=5 measured rounds per configuration after
 *                                 BENCH_WARMUP=1; RAW_POLL_SEC=0.1 is the script's health poll)
 *
 * Setup (bench/lib/deploy-host.ts, not timed): one dev env, two deployed commits with the same
 * addons (README only), so both images exist and neither switch updates a module. Each round
 * deploys the commit that is not serving, by `--sha`: the build step reuses its image, the plan
 * finds no module change. Two configurations, each measured against the script:
 *   - defaults: `deploy.runTests` and `deploy.rehearse` on (the addon tests on a throwaway
 *     database; the rehearsal copies the database and boots the release on the copy once more);
 *   - like for like: both off, so what remains is what the script does plus odooops' own steps.
 * `deploy.drainSec: 0` in both. Rounds alternate which side goes first. Reports only; exit 0.
 */
import { resolve } from "node:path";
import { run } from "../src/exec/run";
import type { JobView } from "../src/jobs/view";
import {
  BASE_DOMAIN,
  header,
  logTime,
  referenceCalls,
  startDeployHost,
  stepDurations,
  STEP_TIMEOUT_MS,
  type ContainerShape,
  type DeployConfig,
  type DeployHost,
} from "./lib/deploy-host";
import { freePort } from "./lib/proc";
import { median, ms, ratio } from "./lib/stats";
import { printTable } from "./lib/table";

const bounded = (v: string | undefined, dflt: number, min: number, max: number) =>
  Math.min(Math.max(Number(v ?? dflt) || dflt, min), max);
const ROUNDS = bounded(process.env.BENCH_ROUNDS, 5, 1, 50);
const WARMUP = process.env.BENCH_WARMUP === "0" ? 0 : bounded(process.env.BENCH_WARMUP, 1, 1, 5);
const RAW_SCRIPT = resolve(import.meta.dir, "raw-switch.sh");

const CONFIGS: { label: string; deploy: DeployConfig }[] = [
  { label: "defaults (runTests, rehearse)", deploy: { drainSec: 0, runTests: true, rehearse: true } },
  {
    label: "like for like (runTests: false, rehearse: false)",
    deploy: { drainSec: 0, runTests: false, rehearse: false },
  },
];

interface Ours {
  totalMs: number;
  /** Spawn → "nginx now serves": users get the new release from here on. */
  servingMs: number;
  steps: Record<string, number>;
  /** start step split at the "started" log line: docker run (with inspect, rm, port pair) / health. */
  runMs: number;
  healthMs: number;
  /** switch step split at "nginx now serves": vhost + reload + health through nginx / stop old. */
  nginxMs: number;
  stopMs: number;
  /** rehearse step split at its log lines: database copy / boot on the copy / the rest (drop). */
  rehearseCopyMs: number;
  rehearseBootMs: number;
  /** How the rehearsal copied the database (its log line), null without a rehearsal. */
  clone: string | null;
  queueMs: number;
  jobMs: number;
}

interface Raw {
  totalMs: number;
  steps: Record<string, number>;
}

interface RawSide {
  shape: ContainerShape;
  slug: string;
  domain: string;
  current: string | null;
  image: string;
}

const at = (iso: string | null) => (iso ? Date.parse(iso) : Number.NaN);
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

function stepSpan(job: JobView, name: string): { start: number; end: number } | null {
  const s = job.steps.find((x) => x.name === name);
  return s?.startedAt && s.finishedAt ? { start: at(s.startedAt), end: at(s.finishedAt) } : null;
}

async function ours(h: DeployHost, sha: string, image: string): Promise<Ours> {
  const t = await h.timedJob(["deploy", h.env.slug, "--sha", sha, "--wait"]);
  if (!t.log.includes(`reusing ${image}`)) throw new Error(`job ${t.job.id} did not reuse ${image}:\n${t.log}`);
  if (!t.log.includes("no module changes")) throw new Error(`job ${t.job.id} planned module changes:\n${t.log}`);
  const now = await h.serving();
  if (now.image !== image) throw new Error(`after the deploy ${now.name} runs ${now.image}, expected ${image}`);
  const serves = logTime(t.log, "nginx now serves");
  const started = logTime(t.log, ": started ");
  const start = stepSpan(t.job, "start");
  const sw = stepSpan(t.job, "switch");
  if (serves === null || started === null || !start || !sw)
    throw new Error(`job ${t.job.id}: no start/switch timeline in its log:\n${t.log}`);
  const rehearse = stepSpan(t.job, "rehearse");
  const copied = logTime(t.log, "copied ");
  const passed = logTime(t.log, "rehearsal passed");
  const rehearsed = rehearse !== null && copied !== null && passed !== null;
  const firstStart = Math.min(...t.job.steps.map((s) => at(s.startedAt)).filter(Number.isFinite));
  return {
    totalMs: t.totalMs,
    servingMs: serves - t.startedAt,
    steps: stepDurations(t.job),
    runMs: started - start.start,
    healthMs: start.end - started,
    nginxMs: serves - sw.start,
    stopMs: sw.end - serves,
    rehearseCopyMs: rehearsed ? copied - rehearse.start : 0,
    rehearseBootMs: rehearsed ? passed - copied : 0,
    clone: rehearsed ? (/copied \S+ to \S+ \((.*)\)\s*$/m.exec(t.log)?.[1] ?? "?") : null,
    queueMs: firstStart - at(t.job.createdAt),
    jobMs: at(t.job.finishedAt) - at(t.job.createdAt),
  };
}

/** One switch by the script; the container it replaced is removed afterwards (not timed). */
async function raw(h: DeployHost, side: RawSide, image: string, tag: string): Promise<Raw> {
  const name = `${h.prefix}-raw-${tag}`;
  const env: Record<string, string> = {
    RAW_NEW: name,
    RAW_OLD: side.current ?? "",
    RAW_IMAGE: image,
    RAW_NETWORK: side.shape.network,
    RAW_CONF: side.shape.confFile,
    RAW_DATA: side.shape.dataDir,
    RAW_CPUS: String(side.shape.cpus),
    RAW_MEMORY_MB: String(side.shape.memoryMb),
    RAW_HTTP_PORT: String(freePort()),
    RAW_LONGPOLL_PORT: String(freePort()),
    RAW_SLUG: side.slug,
    RAW_DOMAIN: side.domain,
    RAW_NGINX_BIN: h.nginx.binary,
    RAW_NGINX_CONF: h.nginx.configFile,
    RAW_NGINX_SITES: h.nginx.sitesDir,
    RAW_NGINX_PORT: String(h.nginx.port),
    RAW_LOG_DIR: h.nginx.logDir,
    ...(process.env.RAW_POLL_SEC ? { RAW_POLL_SEC: process.env.RAW_POLL_SEC } : {}),
  };
  const started = performance.now();
  const r = await run({ argv: ["bash", RAW_SCRIPT], env, timeoutMs: STEP_TIMEOUT_MS }, { nothrow: true });
  const totalMs = performance.now() - started;
  const last = r.stdout.trim().split("\n").at(-1) ?? "";
  if (r.exitCode !== 0 || !last.startsWith("{"))
    throw new Error(`raw-switch.sh exited ${r.exitCode}:\n${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(last) as { steps: Record<string, number> };
  if (side.current) await run({ argv: ["docker", "rm", "--force", side.current] });
  side.current = name;
  side.image = image;
  return { totalMs, steps: Object.fromEntries(Object.entries(out.steps).map(([k, us]) => [k, us / 1000])) };
}

function report(
  label: string,
  o: Ours[],
  r: Raw[],
  orders: string[],
): { raw: number; ours: number; switchOnly: number; exclTestsRehearse: number; serving: number } {
  const mo = (f: (x: Ours) => number) => median(o.map(f));
  const mr = (f: (x: Raw) => number) => median(r.map(f));
  const step = (x: Ours, n: string) => x.steps[n] ?? 0;
  printTable(
    `${label} — per round: ours = spawn → exit of \`deploy --sha --wait\`; raw = spawn → exit of raw-switch.sh`,
    ["round", "order", "ours total", "ours tests", "ours rehearse", "ours start + switch", "raw total", "ratio"],
    o.map((x, i) => [
      String(i + 1),
      orders[i] ?? "",
      ms(x.totalMs, 0),
      ms(step(x, "tests"), 0),
      ms(step(x, "rehearse"), 0),
      ms(step(x, "start") + step(x, "switch"), 0),
      ms(r[i]?.totalMs ?? Number.NaN, 0),
      ratio(x.totalMs, r[i]?.totalMs ?? Number.NaN),
    ]),
  );
  const oT = mo((x) => x.totalMs);
  const rT = mr((x) => x.totalMs);
  const switchOnly = mo((x) => step(x, "start") + step(x, "switch"));
  const exclTR = mo((x) => x.totalMs - step(x, "tests") - step(x, "rehearse"));
  const serving = mo((x) => x.servingMs);
  printTable(
    `${label} — medians of ${o.length} rounds`,
    ["measure", "raw script (baseline)", "odooops deploy", "ratio"],
    [
      ["total", ms(rT, 0), ms(oT, 0), ratio(oT, rT)],
      ["overhead (ours − raw)", "—", ms(oT - rT, 0), "—"],
      [
        "spawn → new release serving through nginx",
        ms(rT - mr((x) => x.steps.stop ?? 0), 0),
        ms(serving, 0),
        ratio(serving, rT - mr((x) => x.steps.stop ?? 0)),
      ],
      ["total without the tests and rehearse steps", ms(rT, 0), ms(exclTR, 0), ratio(exclTR, rT)],
      ["the switch alone (ours: start + switch steps)", ms(rT, 0), ms(switchOnly, 0), ratio(switchOnly, rT)],
      [
        "median of per-round ratios, total",
        "—",
        "—",
        ratio(median(o.map((x, i) => x.totalMs / (r[i]?.totalMs ?? Number.NaN))), 1),
      ],
    ],
  );
  const tested = o.some((x) => x.steps.tests !== undefined);
  const rehearsed = o.some((x) => x.clone !== null);
  const rows: string[][] = [
    [
      "source: git fetch of the mirror, commit check",
      "—",
      ms(
        mo((x) => step(x, "source")),
        0,
      ),
    ],
    [
      "build: image already built (inspect, reuse)",
      "—",
      ms(
        mo((x) => step(x, "build")),
        0,
      ),
    ],
    [
      "plan: manifests and checksums vs the database",
      "—",
      ms(
        mo((x) => step(x, "plan")),
        0,
      ),
    ],
    [
      "tests: addon tests on a throwaway database",
      "—",
      tested
        ? ms(
            mo((x) => step(x, "tests")),
            0,
          )
        : "off",
    ],
    [
      "rehearse",
      "—",
      rehearsed
        ? ms(
            mo((x) => step(x, "rehearse")),
            0,
          )
        : `off (${ms(
            mo((x) => step(x, "rehearse")),
            0,
          )} to say so)`,
    ],
    ...(rehearsed
      ? [
          [
            "  scratch role + pg_hba line, copy of the database",
            "—",
            ms(
              mo((x) => x.rehearseCopyMs),
              0,
            ),
          ],
          [
            "  boot on the copy until healthy, then docker rm --force",
            "—",
            ms(
              mo((x) => x.rehearseBootMs),
              0,
            ),
          ],
          [
            "  scratch database, role and pg_hba line dropped",
            "—",
            ms(
              mo((x) => step(x, "rehearse") - x.rehearseCopyMs - x.rehearseBootMs),
              0,
            ),
          ],
        ]
      : []),
    [
      "migrate: nothing to update",
      "—",
      ms(
        mo((x) => step(x, "migrate")),
        0,
      ),
    ],
    [
      "docker run (ours: + inspect, rm --force, port pair)",
      ms(
        mr((x) => x.steps.run ?? 0),
        0,
      ),
      ms(
        mo((x) => x.runMs),
        0,
      ),
    ],
    [
      `health on its own port (raw polls every ${process.env.RAW_POLL_SEC ?? "0.1"} s, ours 250 ms)`,
      ms(
        mr((x) => x.steps.health ?? 0),
        0,
      ),
      ms(
        mo((x) => x.healthMs),
        0,
      ),
    ],
    [
      "vhost + nginx -t + reload + health through nginx",
      ms(
        mr((x) => (x.steps.vhost ?? 0) + (x.steps.nginx ?? 0)),
        0,
      ),
      ms(
        mo((x) => x.nginxMs),
        0,
      ),
    ],
    [
      "stop the old release (drainSec 0)",
      ms(
        mr((x) => x.steps.stop ?? 0),
        0,
      ),
      ms(
        mo((x) => x.stopMs),
        0,
      ),
    ],
    [
      "prune",
      "—",
      ms(
        mo((x) => step(x, "prune")),
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
        mo((x) => x.jobMs - x.queueMs - sum(x.steps)),
        0,
      ),
    ],
    [
      "outside (ours: the CLI around the job; raw: bash start-up)",
      ms(
        mr((x) => x.totalMs - sum(x.steps)),
        0,
      ),
      ms(
        mo((x) => x.totalMs - x.jobMs),
        0,
      ),
    ],
  ];
  printTable(
    `${label} — where the time goes, medians (ours: job step times and job log timestamps; raw: the script's clock)`,
    ["part", "raw script", "odooops deploy"],
    rows,
  );
  const clones = [...new Set(o.map((x) => x.clone).filter((c): c is string => c !== null))];
  if (clones.length > 0) console.log(`\nThe rehearsal's copy: ${clones.join("; ")}.`);
  return { raw: rT, ours: oT, switchOnly, exclTestsRehearse: exclTR, serving };
}

async function main(): Promise<void> {
  const h = await startDeployHost(CONFIGS[0]!.deploy);
  try {
    await header(`deploy --sha of built images ${h.releases.map((r) => r.image).join(" ⇄ ")}`);
    console.log(
      `per configuration: ${WARMUP} warm-up round(s), then ${ROUNDS} measured rounds, alternating which side goes first`,
    );
    const first = await h.serving();
    const side: RawSide = {
      shape: first,
      slug: `raw-${h.prefix}`,
      domain: `raw-${h.prefix}.${BASE_DOMAIN}`,
      current: null,
      image: first.image,
    };
    // The script's first run has nothing to replace: it only brings its own release up (not measured).
    await raw(h, side, first.image, "init");
    const summary: string[][] = [];
    let active = CONFIGS[0]!.deploy;
    for (const [ci, cfg] of CONFIGS.entries()) {
      if (JSON.stringify(cfg.deploy) !== JSON.stringify(active)) {
        await h.restart(cfg.deploy);
        active = cfg.deploy;
      }
      const o: Ours[] = [];
      const r: Raw[] = [];
      const orders: string[] = [];
      for (let i = 0; i < WARMUP + ROUNDS; i++) {
        const tag = `c${ci + 1}-${i < WARMUP ? `w${i + 1}` : String(i - WARMUP + 1)}`;
        const serving = (await h.serving()).image;
        const target = h.releases.find((x) => x.image !== serving);
        const rawTarget = h.releases.find((x) => x.image !== side.image);
        if (!target || !rawTarget) throw new Error("no release to switch to");
        const oursFirst = i % 2 === 0;
        let x: Ours;
        let y: Raw;
        if (oursFirst) {
          x = await ours(h, target.sha, target.image);
          y = await raw(h, side, rawTarget.image, tag);
        } else {
          y = await raw(h, side, rawTarget.image, tag);
          x = await ours(h, target.sha, target.image);
        }
        console.error(
          `${cfg.label} round ${tag}: deploy ${ms(x.totalMs, 0)} (tests ${ms(x.steps.tests ?? 0, 0)}, rehearse ${ms(x.steps.rehearse ?? 0, 0)}), raw ${ms(y.totalMs, 0)}`,
        );
        if (i < WARMUP) continue;
        o.push(x);
        r.push(y);
        orders.push(oursFirst ? "ours→raw" : "raw→ours");
      }
      const m = report(cfg.label, o, r, orders);
      summary.push([
        cfg.label,
        ms(m.raw, 0),
        ms(m.ours, 0),
        ratio(m.ours, m.raw),
        ms(m.serving, 0),
        ms(m.exclTestsRehearse, 0),
        ratio(m.exclTestsRehearse, m.raw),
      ]);
    }
    printTable(
      "Summary — deploy of an already-built, unchanged-addons commit vs the raw switch (medians)",
      [
        "configuration",
        "raw script",
        "odooops deploy",
        "ratio",
        "ours to serving",
        "ours excl. tests + rehearse",
        "ratio excl.",
      ],
      summary,
    );
    console.log(`\n${await referenceCalls(h.prefix)}`);
  } finally {
    await h.stop();
  }
}

await main();
