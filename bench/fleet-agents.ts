#!/usr/bin/env bun
/**
 * One coordinator and 1,000 simulated agents (issue #16): the compiled daemon with `role:
 * coordinator` and its HTTPS agent listener on loopback; this process joins BENCH_FLEET_AGENTS
 * (1000) agents with one-time tokens from the user API, each pinning the listener's certificate
 * as a real agent does, then every agent heartbeats every 10 s (inventory + three containers,
 * first beats spread over the interval) and keeps one lease long-poll open, for BENCH_FLEET_SEC
 * (60) seconds. The beats ride the long-poll as the agent daemon sends them (LeasePulse +
 * HttpJobChannel); BENCH_FLEET_PROTOCOL=split measures agents that predate it (POST /heartbeat
 * beside a 20 s long-poll). The same coordinator is measured idle with no agent first, in the same run:
 * CPU (utime+stime of the daemon) and RSS. Then placement of 1,000 envs over the 1,000 hosts
 * (one per agent) with the planner the coordinator uses (src/fleet/placement.ts).
 *
 *   bun run build && bun bench/fleet-agents.ts
 *
 * Targets: heartbeat p95 < 20 ms, coordinator CPU < 25 % of one core, RSS < 200 MB. The latency
 * is measured by this process, which runs all agents itself on the same 2 cores: it is an upper
 * bound of the coordinator's. Reports only; never fails on a time. Loopback only.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoordinatorClient, fetchPinnedCert } from "../src/fleet/coordinator-client";
import { LeasePulse } from "../src/fleet/pulse";
import { type AgentTransport, HttpJobChannel, LEASE_WAIT_MS } from "../src/jobs/http-channel";
import { decodeJoinToken } from "../src/fleet/join-token";
import { type Candidate, placeEnv } from "../src/fleet/placement";
import { writeHostConfig } from "../test/support/host-config";
import { cpuTimes } from "./lib/cpu";
import { startDaemon } from "./lib/daemon";
import { cleanupOnExit, establishedOn, freePort, procStatusBytes } from "./lib/proc";
import { mb, median, ms, percentile, sorted } from "./lib/stats";
import { printTable, verdict } from "./lib/table";

// Bun's fetch runs at most 256 requests at once per process (BUN_CONFIG_MAX_HTTP_REQUESTS): with
// one long-poll open per agent, 1,000 simulated agents in one process would queue their
// heartbeats behind that limit and measure it instead of the coordinator. Real agents are one
// process each.
if (!process.env.BUN_CONFIG_MAX_HTTP_REQUESTS) {
  const child = Bun.spawn([process.execPath, import.meta.path], {
    env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "65000" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  process.exit(await child.exited);
}

const AGENTS = Math.min(Math.max(Number(process.env.BENCH_FLEET_AGENTS ?? 1000) || 1000, 10), 2000);
const RUN_SEC = Math.min(Math.max(Number(process.env.BENCH_FLEET_SEC ?? 60) || 60, 20), 600);
const HEARTBEAT_SEC = 10;
/** `carried` (default): heartbeats ride the lease long-poll; `split`: a heartbeat route beside it. */
const PROTOCOL = process.env.BENCH_FLEET_PROTOCOL === "split" ? "split" : "carried";
/** How many joins run at once: joining is setup, not measured. */
const JOIN_CONCURRENCY = 20;
const TARGET = { p95Ms: 20, cpuShare: 0.25, rssBytes: 200 * 1024 * 1024 };

const root = mkdtempSync(join(tmpdir(), "odooops-bench-fleet-"));
const agentPort = freePort();
writeHostConfig(root, {
  role: "coordinator",
  fleet: { listen: `127.0.0.1:${agentPort}`, heartbeatSec: HEARTBEAT_SEC },
});
const daemon = await startDaemon(root);
let stopping = false;
const stop = cleanupOnExit(async () => {
  stopping = true;
  await daemon.stop();
  rmSync(root, { recursive: true, force: true });
});

const inventory = (i: number) => ({
  cores: 2 + (i % 7),
  memoryMb: 4096 + 1024 * (i % 5),
  diskFreeMb: 40_000 + 100 * (i % 97),
  load: 0.1,
  docker: "20.10.24",
  postgres: "15.10",
  nginx: "1.22.1",
  agentVersion: "0.1.0",
});
const containers = (i: number) =>
  ["web", "db-init", "cron"].map((role) => ({ name: `odooops-env${i}-${role}`, state: "running", env: `env${i}` }));

interface Window {
  cpuSec: number;
  seconds: number;
  rssPeak: number;
  rssEnd: number;
  /** Open connections to the agent listener: most at once, and at the end. */
  connPeak: number;
  connEnd: number;
}

/** The daemon's CPU, RSS and agent connections over `seconds`, sampled every 500 ms. */
async function window(seconds: number): Promise<Window> {
  const cpu0 = cpuTimes(daemon.pid).self;
  const t0 = performance.now();
  const rss: number[] = [];
  const conns: number[] = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    rss.push(procStatusBytes(daemon.pid, "VmRSS"));
    conns.push(establishedOn(agentPort));
    await Bun.sleep(500);
  }
  return {
    cpuSec: cpuTimes(daemon.pid).self - cpu0,
    seconds: (performance.now() - t0) / 1000,
    rssPeak: Math.max(...rss),
    rssEnd: median(rss.slice(-Math.max(1, Math.floor(rss.length / 10)))),
    connPeak: Math.max(...conns),
    connEnd: conns.at(-1) ?? 0,
  };
}

interface SimulatedAgent {
  client: CoordinatorClient;
  hostId: string;
}

async function joinAgents(): Promise<SimulatedAgent[]> {
  const api = (path: string, body: unknown) =>
    fetch(`${daemon.url}/api/v1${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${daemon.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then(async (r) => {
      if (!r.ok) throw new Error(`POST ${path}: ${r.status} ${await r.text()}`);
      return (await r.json()) as { token: string };
    });
  const first = decodeJoinToken((await api("/hosts/tokens", { name: "agent-0" })).token);
  const certPem = await fetchPinnedCert(first.url, first.fingerprint);
  const link = { url: first.url, fingerprint: first.fingerprint, certPem };
  const agents: SimulatedAgent[] = new Array(AGENTS);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < AGENTS; i = next++) {
      const name = `agent-${i}`;
      const { token } = await api("/hosts/tokens", { name });
      const joined = await new CoordinatorClient(link, null).post<{ hostId: string; credential: string }>("/join", {
        token,
        name,
        inventory: inventory(i),
      });
      agents[i] = { client: new CoordinatorClient(link, joined.credential), hostId: joined.hostId };
    }
  };
  await Promise.all(Array.from({ length: JOIN_CONCURRENCY }, worker));
  return agents;
}

/**
 * Every agent's heartbeat loop and lease long-poll until `until`, the way the agent daemon runs
 * them (src/daemon/agent.ts: a lease loop that pauses 1 s after an empty answer, a beat loop timed
 * from each beat's start). `carried`: beats ride the lease through the daemon's own LeasePulse
 * and HttpJobChannel; a beat's latency is then its lease's round trip minus the wait the lease
 * asked for (the coordinator records the beat before it waits). `split`: agents that predate it,
 * a lease long-poll of 20 s and a POST /heartbeat beside it.
 */
async function runAgents(agents: SimulatedAgent[], until: number) {
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  let failed = 0;
  const fail = (what: string, e: unknown) => {
    failed += 1;
    const text = `${what}: ${e instanceof Error ? e.message.slice(0, 160) : String(e)}`;
    errors.set(text, (errors.get(text) ?? 0) + 1);
  };
  let leases = 0;
  let direct = 0;
  const running = () => !stopping && Date.now() < until;
  const intervalMs = HEARTBEAT_SEC * 1000;

  const carried = async ({ client, hostId }: SimulatedAgent, i: number) => {
    const transport: AgentTransport = {
      async post<T>(path: string, body: unknown, timeoutMs?: number): Promise<T> {
        const t0 = performance.now();
        const answer = await client.post<T>(path, body, timeoutMs);
        if (typeof body === "object" && body !== null && "heartbeat" in body && "waitMs" in body)
          latencies.push(performance.now() - t0 - Number(body.waitMs));
        return answer;
      },
    };
    let wake: (() => void) | null = null;
    const pulse = new LeasePulse(() => wake?.());
    const channel = new HttpJobChannel(transport, LEASE_WAIT_MS, null, null, null, pulse);
    const phase = (i / agents.length) * intervalMs;
    pulse.expect(Date.now() + phase);
    const poll = (async () => {
      while (running()) {
        try {
          await channel.lease({ hostId, owner: `${hostId}:bench` }, 30_000);
          leases += 1;
        } catch (e) {
          fail("lease", e);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1_000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
    })();
    await Bun.sleep(phase);
    while (running()) {
      const startedAt = Date.now();
      const body = { inventory: inventory(i), containers: containers(i) };
      try {
        await pulse.send(body, intervalMs, () => {
          direct += 1;
          const t0 = performance.now();
          return client.post("/heartbeat", body).then(() => latencies.push(performance.now() - t0));
        });
      } catch (e) {
        fail("heartbeat", e);
      }
      const delay = Math.max(0, startedAt + intervalMs - Date.now());
      pulse.expect(Date.now() + delay);
      await Bun.sleep(delay);
    }
    pulse.cancel();
    await poll;
  };

  const split = async ({ client, hostId }: SimulatedAgent, i: number) => {
    const poll = (async () => {
      while (running()) {
        try {
          // Nothing is queued: each long-poll waits its full 20 s, as an idle agent's does.
          await client.post("/jobs/lease", { owner: `${hostId}:bench`, leaseMs: 30_000, waitMs: 20_000 }, 40_000);
          leases += 1;
        } catch (e) {
          fail("lease", e);
          await Bun.sleep(1_000);
        }
      }
    })();
    await Bun.sleep((i / agents.length) * intervalMs);
    while (running()) {
      const t0 = performance.now();
      try {
        await client.post("/heartbeat", { inventory: inventory(i), containers: containers(i) });
        latencies.push(performance.now() - t0);
      } catch (e) {
        fail("heartbeat", e);
      }
      await Bun.sleep(Math.max(0, intervalMs - (performance.now() - t0)));
    }
    await poll;
  };
  await Promise.all(agents.map(PROTOCOL === "carried" ? carried : split));
  return { latencies: sorted(latencies), failed, errors, leases, direct };
}

/** Placement of `count` envs over the joined hosts, each placement seeing the ones before it. */
function placeMany(count: number): { ms: number; placed: number } {
  const hosts: Candidate[] = Array.from({ length: AGENTS }, (_, i) => ({
    id: `h${i}`,
    name: `agent-${i}`,
    online: true,
    draining: i % 50 === 0,
    labels: { region: i % 2 ? "eu" : "us" },
    inventory: inventory(i),
    placed: { cpus: 0, memoryMb: 0, diskMb: 0 },
  }));
  const need = { cpus: 1, memoryMb: 1024, diskMb: 5_000 };
  const t0 = performance.now();
  let placed = 0;
  for (let e = 0; e < count; e++) {
    const { host } = placeEnv(hosts, { need, labels: e % 3 === 0 ? { region: "eu" } : undefined });
    host.placed = {
      cpus: host.placed.cpus + need.cpus,
      memoryMb: host.placed.memoryMb + need.memoryMb,
      diskMb: host.placed.diskMb + need.diskMb,
    };
    placed += 1;
  }
  return { ms: performance.now() - t0, placed };
}

try {
  const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
  console.log(
    `fleet agents · ${new Date().toISOString().slice(0, 16)}Z · load ${load} · ${AGENTS} agents · heartbeats ${PROTOCOL === "carried" ? "on the lease" : "on their own route"}`,
  );
  await Bun.sleep(2_000);
  const idle = await window(RUN_SEC);

  const j0 = performance.now();
  const joined = await joinAgents();
  const joinSec = (performance.now() - j0) / 1000;
  const until = Date.now() + (RUN_SEC + HEARTBEAT_SEC) * 1000;
  const agents = runAgents(joined, until);
  // The first interval spreads the first beats: measure after it.
  await Bun.sleep(HEARTBEAT_SEC * 1000);
  const selfCpu0 = process.cpuUsage();
  const busy = await window(RUN_SEC);
  const selfCpu = process.cpuUsage(selfCpu0);
  const simulatorShare = (selfCpu.user + selfCpu.system) / 1e6 / busy.seconds;
  const result = await agents;
  const placement = placeMany(AGENTS);

  const p50 = percentile(result.latencies, 50);
  const p95 = percentile(result.latencies, 95);
  const share = (w: Window) => w.cpuSec / w.seconds;
  printTable(
    `One coordinator: idle vs ${AGENTS} agents heartbeating every ${HEARTBEAT_SEC} s with a lease long-poll open, ${RUN_SEC} s each`,
    ["", "no agents", `${AGENTS} agents`],
    [
      [
        "coordinator CPU",
        `${idle.cpuSec.toFixed(2)} s (${(share(idle) * 100).toFixed(1)} % of a core)`,
        `${busy.cpuSec.toFixed(2)} s (${(share(busy) * 100).toFixed(1)} % of a core)`,
      ],
      ["coordinator RSS, peak", mb(idle.rssPeak), mb(busy.rssPeak)],
      ["coordinator RSS, end", mb(idle.rssEnd), mb(busy.rssEnd)],
      ["agent connections, peak / end", `${idle.connPeak} / ${idle.connEnd}`, `${busy.connPeak} / ${busy.connEnd}`],
      ["heartbeats answered", "-", `${result.latencies.length} (p50 ${ms(p50)}, p95 ${ms(p95)})`],
      ["heartbeats posted on their own", "-", PROTOCOL === "carried" ? String(result.direct) : "all"],
      ["lease long-polls answered", "-", String(result.leases)],
      ["failed requests", "-", String(result.failed)],
      ["this simulator's own CPU", "-", `${(simulatorShare * 100).toFixed(1)} % of a core`],
    ],
  );
  console.log(
    `\njoining ${AGENTS} agents (token + pinned TLS + /join, ${JOIN_CONCURRENCY} at once): ${joinSec.toFixed(1)} s`,
  );
  console.log(`heartbeat p95: ${ms(p95)} (target < ${TARGET.p95Ms} ms) ${verdict(p95 < TARGET.p95Ms)}`);
  console.log(
    `coordinator CPU with ${AGENTS} agents: ${(share(busy) * 100).toFixed(1)} % of one core (target < ${TARGET.cpuShare * 100} %) ${verdict(share(busy) < TARGET.cpuShare)}`,
  );
  console.log(
    `coordinator RSS peak: ${mb(busy.rssPeak)} (target < ${mb(TARGET.rssBytes)}) ${verdict(busy.rssPeak < TARGET.rssBytes)}`,
  );
  console.log(
    `placement of ${placement.placed} envs over ${AGENTS} hosts (planner, each placement seeing the ones before): ${ms(placement.ms, 1)} total, ${ms(placement.ms / placement.placed, 3)} each`,
  );
  if (result.failed > 0)
    throw new Error(
      `${result.failed} agent requests failed:\n${[...result.errors].map(([e, n]) => `  ${n}× ${e}`).join("\n")}`,
    );
} finally {
  await stop();
}
