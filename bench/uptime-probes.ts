#!/usr/bin/env bun
/**
 * The daemon's overhead of the minute probes (issue #18): 100 environments in state, each asked
 * for /web/health through "nginx" (a Bun.serve answering `pass`, started here on loopback) on an
 * accelerated schedule — every 5 s, 12× the real rate — for BENCH_UPTIME_SEC (60) seconds, against
 * the same daemon and state with the probes off, in the same run. Prints the CPU per round, what
 * that is as a share of one core at the real once-a-minute rate, and the daemon's RSS at the
 * start and the end of the probed run (flat = no growth with rounds).
 *
 *   bun run build && bun bench/uptime-probes.ts
 *
 * Reports only; never fails on a time. Loopback only.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuTimes } from "./lib/cpu";
import { startDaemon } from "./lib/daemon";
import { cleanupOnExit, freePort, procStatusBytes } from "./lib/proc";
import { seedEnvironments } from "./lib/seed";
import { mb, median } from "./lib/stats";
import { printTable, verdict } from "./lib/table";

const ENVS = 100;
const EVERY_SEC = 5;
const RUN_SEC = Math.min(Math.max(Number(process.env.BENCH_UPTIME_SEC ?? 60) || 60, 20), 600);
/** Target: the real schedule costs under 1 % of one core. */
const CPU_TARGET = 0.01;
/** RSS is flat when the end of the run is within 5 MB of its start. */
const RSS_FLAT_BYTES = 5 * 1024 * 1024;

const root = mkdtempSync(join(tmpdir(), "odooops-bench-uptime-"));
let probesSeen = 0;
const nginx = Bun.serve({
  hostname: "127.0.0.1",
  port: freePort(),
  fetch(req) {
    if (new URL(req.url).pathname === "/web/health") probesSeen += 1;
    return Response.json({ status: "pass" });
  },
});
const stop = cleanupOnExit(async () => {
  nginx.stop(true);
  rmSync(root, { recursive: true, force: true });
});

interface Run {
  cpuSec: number;
  probes: number;
  rssStart: number;
  rssEnd: number;
  rssPeak: number;
}

async function measure(schedule: string): Promise<Run> {
  const daemon = await startDaemon(root, {
    ODOOOPS_NGINX_HTTP_PORT: String(nginx.port),
    ODOOOPS_UPTIME_PROBE_SCHEDULE: schedule,
  });
  try {
    await Bun.sleep(3_000);
    const seen0 = probesSeen;
    const cpu0 = cpuTimes(daemon.pid);
    const samples: number[] = [];
    const end = Date.now() + RUN_SEC * 1000;
    while (Date.now() < end) {
      samples.push(procStatusBytes(daemon.pid, "VmRSS"));
      await Bun.sleep(500);
    }
    const cpu1 = cpuTimes(daemon.pid);
    const tenth = Math.max(1, Math.floor(samples.length / 10));
    return {
      cpuSec: cpu1.self - cpu0.self,
      probes: probesSeen - seen0,
      rssStart: median(samples.slice(0, tenth)),
      rssEnd: median(samples.slice(-tenth)),
      rssPeak: Math.max(...samples),
    };
  } finally {
    await daemon.stop();
  }
}

try {
  // The first start creates the state; the environments go in while it is stopped.
  await (await startDaemon(root, { ODOOOPS_UPTIME_PROBE_SCHEDULE: "" })).stop();
  seedEnvironments(root, ENVS);
  const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
  console.log(`uptime probes · ${new Date().toISOString().slice(0, 16)}Z · load ${load}`);
  const off = await measure("");
  const on = await measure(`*/${EVERY_SEC} * * * * *`);
  const rounds = on.probes / ENVS;
  const perRound = rounds > 0 ? (on.cpuSec - off.cpuSec) / rounds : Number.NaN;
  const realShare = perRound / 60;
  printTable(
    `Minute probes of ${ENVS} environments: ${RUN_SEC} s with a round every ${EVERY_SEC} s vs the probes off`,
    ["", "probes off", "probes on"],
    [
      ["probes answered", String(off.probes), `${on.probes} (${rounds.toFixed(1)} rounds)`],
      ["daemon CPU", `${off.cpuSec.toFixed(2)} s`, `${on.cpuSec.toFixed(2)} s`],
      ["daemon RSS, first tenth of the run", mb(off.rssStart), mb(on.rssStart)],
      ["daemon RSS, last tenth of the run", mb(off.rssEnd), mb(on.rssEnd)],
      ["daemon RSS, peak", mb(off.rssPeak), mb(on.rssPeak)],
    ],
  );
  console.log(
    `\nCPU per round of ${ENVS} probes: ${(perRound * 1000).toFixed(0)} ms; at the real rate (one round a minute) ${(realShare * 100).toFixed(3)} % of one core (target < ${CPU_TARGET * 100} %) ${verdict(realShare < CPU_TARGET)}`,
  );
  console.log(
    `RSS over ${rounds.toFixed(0)} rounds: ${mb(on.rssStart)} → ${mb(on.rssEnd)} (flat: within ${mb(RSS_FLAT_BYTES)}) ${verdict(on.rssEnd - on.rssStart < RSS_FLAT_BYTES)}`,
  );
  if (off.probes !== 0 || rounds < 1) throw new Error(`unexpected probe counts: off ${off.probes}, on ${on.probes}`);
} finally {
  await stop();
}
