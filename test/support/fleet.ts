/**
 * A fleet on this machine for end-to-end tests: a coordinator (`startDaemon`, role coordinator)
 * and agents (`startAgentDaemon`, joined with a one-time token over the pinned HTTPS agent API),
 * each with its own root, PostgreSQL cluster, nginx, port range, docker name prefix
 * (`<id>-c`, `<id>-a`, …: one `removeByNamePrefix(id)` removes every host's containers) and
 * address on the loopback range. The coordinator's user and agent APIs listen on its address, on
 * a fixed agent API port, so `restart()` brings it back where the agents pinned it. An agent is
 * reached on its address (the vhosts listen on every address, as on a real host). With `s3Bucket`
 * every host backs up to one private s3rver.
 */
import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import type { Subprocess } from "bun";
import { SecretBox } from "../../src/auth/secretbox";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { startAgentDaemon } from "../../src/daemon/agent";
import { agentStateFile } from "../../src/daemon/agent-state";
import { startDaemon } from "../../src/daemon/serve";
import { decodeJoinToken } from "../../src/fleet/join-token";
import { writeJoin } from "../../src/init/join";
import type { AnyJobDef } from "../../src/jobs/define";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { TERMINAL } from "../../src/jobs/status";
import type { JobView } from "../../src/jobs/view";
import { listHosts } from "../../src/fleet/hosts";
import { removeByNamePrefix, testNamePrefix } from "./docker";
import { hostConfig, randomPortBase, writeHostConfig } from "./host-config";
import { startNginx, type TestNginx } from "./nginx";
import { freePort } from "./ports";
import { startPostgres, type TestPostgres } from "./postgres";
import { startS3, type TestS3 } from "./s3";
import { makeTempDir, randomSuffix, removeTempDir } from "./tmp";
import { until } from "./wait";

export interface AgentSpec {
  name: string;
  /** 127.0.0.x: where the test reaches this host. */
  address: string;
  labels?: Record<string, string>;
}

export interface FleetOptions {
  coordinatorAddress: string;
  agents: AgentSpec[];
  /** Sections merged into every host's config (tiers, backups …). */
  shared?: Record<string, unknown>;
  /** Sections merged into the agents' configs only. */
  agentConfig?: Record<string, unknown>;
  /** More of an agent's config, from its nginx once started (pebble validates on its port). */
  agentConfigFor?: (nginx: TestNginx) => Promise<Record<string, unknown>>;
  /** Job kinds the agents run beyond the built-in ones (test probes, run in this process). */
  agentJobs?: AnyJobDef[];
  /** One S3 target (a private s3rver, bucket `<s3Bucket>-<random>`) shared by every host as `backups.s3`. */
  s3Bucket?: string;
}

const ADMIN_PASSWORD = "fleet-test-admin-pw";

type Coordinator = Awaited<ReturnType<typeof startDaemon>>;
type AgentDaemon = Awaited<ReturnType<typeof startAgentDaemon>>;

/** What a host of the fleet runs envs with: its docker name prefix, PostgreSQL and nginx. */
export interface FleetHost {
  prefix: string;
  pg: TestPostgres;
  nginx: TestNginx;
}

export interface FleetAgent extends AgentSpec, FleetHost {
  daemon: AgentDaemon;
  /** GET `path` through this agent's nginx, on its address, for a vhost. */
  get(domain: string, path: string): Promise<Response>;
}

/** Writes the join file an agent reads at its first start (the coordinator's URL and `token`); the root's paths. */
export function writeJoinFile(root: string, token: string) {
  const paths = resolvePaths(root);
  writeJoin(paths, { url: decodeJoinToken(token).url, token }, SecretBox.fromFile(paths.secretKeyFile));
  return paths;
}

export async function startFleet(opts: FleetOptions) {
  const id = testNamePrefix();
  const resources: { stop(): Promise<void> }[] = [];
  const agents: FleetAgent[] = [];
  let s3: TestS3 | null = null;
  // Set in the try below, which throws when it cannot.
  let coordinatorHost!: FleetHost;
  let coordinator: Coordinator | null = null;
  let startCoordinator: (() => Promise<Coordinator>) | null = null;
  let token = "";

  const cleanup = async () => {
    for (const a of agents) await a.daemon.stop().catch(() => undefined);
    await coordinator?.stop().catch(() => undefined);
    coordinator = null;
    await removeByNamePrefix(id);
    await Promise.all(resources.map((r) => r.stop().catch(() => undefined)));
  };

  try {
    let shared = opts.shared;
    if (opts.s3Bucket) {
      const server = await startS3();
      s3 = server;
      resources.push({ stop: () => server.destroy() });
      const target = await server.target(`${opts.s3Bucket}-${randomSuffix()}`, { prefix: "odooops" });
      shared = { ...shared, backups: { ...(shared?.backups as object | undefined), s3: target } };
    }
    const host = async (
      prefix: string,
      extra: Record<string, unknown>,
      more?: (nginx: TestNginx) => Promise<Record<string, unknown>>,
    ) => {
      const [pg, nginx] = await Promise.all([startPostgres({ dockerAccess: false }), startNginx()]);
      resources.push(pg, nginx);
      const config = hostConfig(
        { pg, nginx, baseDomain: "fleet.localhost", namePrefix: prefix, portsFrom: randomPortBase(), portCount: 200 },
        { ...shared, ...extra, ...(more && (await more(nginx))) },
      );
      return { pg, nginx, config };
    };

    const fleetPort = await freePort(opts.coordinatorAddress);
    const coord = await host(`${id}-c`, {
      role: "coordinator",
      fleet: { listen: `${opts.coordinatorAddress}:${fleetPort}`, heartbeatSec: 1 },
    });
    writeHostConfig(coord.nginx.dir, coord.config);
    coordinatorHost = { prefix: `${id}-c`, pg: coord.pg, nginx: coord.nginx };
    startCoordinator = () =>
      startDaemon({
        root: coord.nginx.dir,
        listen: `${opts.coordinatorAddress}:0`,
        env: { ...process.env, ODOOOPS_ADMIN_PASSWORD: ADMIN_PASSWORD },
      });
    coordinator = await startCoordinator();
    token = (await coordinator.deps.auth.login("admin", ADMIN_PASSWORD)).token;

    for (const [i, spec] of opts.agents.entries()) {
      const prefix = `${id}-${String.fromCharCode(97 + i)}`;
      const h = await host(
        prefix,
        { role: "agent", fleet: { heartbeatSec: 1 }, ...opts.agentConfig },
        opts.agentConfigFor,
      );
      const paths = writeJoinFile(
        h.nginx.dir,
        coordinator.deps.fleet.createJoinToken({ name: spec.name, labels: spec.labels }).token,
      );
      const daemon = await startAgentDaemon({
        paths,
        config: ConfigSchema.parse(h.config),
        ...(opts.agentJobs && { extraJobs: opts.agentJobs }),
      });
      agents.push({
        ...spec,
        prefix,
        pg: h.pg,
        nginx: h.nginx,
        daemon,
        get: (domain, path) =>
          fetch(`http://${spec.address}:${h.nginx.port}${path}`, {
            headers: { host: domain },
            keepalive: false,
            signal: AbortSignal.timeout(10_000),
          }),
      });
    }
  } catch (e) {
    await cleanup();
    throw e;
  }

  const current = (): Coordinator => {
    if (!coordinator) throw new Error("the coordinator is stopped");
    return coordinator;
  };

  const api = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${current().url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as T };
  };

  const waitJob = async (jobId: string, timeoutMs = 240_000): Promise<JobView> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await api<JobView>("GET", `/jobs/${jobId}`);
      if (TERMINAL.has(body.status)) return body;
      if (Date.now() > until) throw new Error(`job ${jobId} still ${body.status}`);
      await Bun.sleep(250);
    }
  };

  return {
    id,
    agents,
    coordinator: current,
    /** The coordinator's own PostgreSQL, nginx and docker name prefix: it runs envs too. */
    coordinatorHost,
    /** The private s3rver behind `backups.s3` (with `s3Bucket`). */
    s3,
    /** The admin's API token. */
    token,
    api,
    waitJob,
    /** `POST /environments` of a dev env `name` on `host`, waited for: its row on the coordinator. */
    async createEnv(name: string, host: string, timeoutMs = 150_000): Promise<Environment> {
      const { status, body } = await api<{ env: { id: string }; job: JobView; error?: unknown }>(
        "POST",
        "/environments",
        { name, tier: "dev", host },
      );
      expect({ status, error: body.error }).toEqual({ status: 202, error: undefined });
      const job = await waitJob(body.job.id, timeoutMs);
      expect(job.error).toBeNull();
      return current().deps.db.select().from(environments).where(eq(environments.id, body.env.id)).get()!;
    },
    /** Placement needs each host's inventory: waits for every one of `names` online with one (its first heartbeat). */
    async waitForInventory(names: string[], timeoutMs = 60_000): Promise<void> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const { body } = await api<{ name: string; status: string; inventory: unknown }[]>("GET", "/hosts");
        const ready = body.filter((h) => h.status === "online" && h.inventory !== null).map((h) => h.name);
        if (names.every((n) => ready.includes(n))) return;
        if (Date.now() > until) throw new Error(`hosts ${names.join(", ")} not all reported an inventory: ${ready}`);
        await Bun.sleep(200);
      }
    },
    async stopCoordinator() {
      await current().stop();
      coordinator = null;
    },
    /** Starts it again on the same root and agent API address; the agents find it by themselves. */
    async restartCoordinator() {
      if (coordinator || !startCoordinator) throw new Error("the coordinator is running");
      coordinator = await startCoordinator();
    },
    cleanup,
  };
}

/**
 * A coordinator in process on a temp root of its own (`root`, for the test to remove), without
 * PostgreSQL or nginx: enough for agents to join and heartbeat. Its containers would be named
 * `<namePrefix>c-…`.
 */
export async function startBareCoordinator(opts: { namePrefix: string; heartbeatSec: number; adminPassword: string }) {
  const root = makeTempDir("odooops-coord-");
  writeHostConfig(root, {
    role: "coordinator",
    fleet: { listen: "127.0.0.1:0", heartbeatSec: opts.heartbeatSec },
    docker: { namePrefix: `${opts.namePrefix}c` },
  });
  const daemon = await startDaemon({
    root,
    listen: "127.0.0.1:0",
    env: { ...process.env, ODOOOPS_ADMIN_PASSWORD: opts.adminPassword },
  });
  return { root, daemon };
}

/** An agent's config with only what joining and heartbeating need: `pg` (its inventory reports the version) and a docker name prefix. */
export function bareAgentConfig(pg: TestPostgres, namePrefix: string, heartbeatSec: number): Record<string, unknown> {
  return {
    role: "agent",
    postgres: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, hbaFile: pg.hbaFile },
    docker: { namePrefix },
    fleet: { heartbeatSec },
  };
}

const MAIN = join(import.meta.dir, "../../src/main.ts");

/**
 * Agents as real processes (`bun src/main.ts serve`, role agent) of the in-process coordinator
 * `coordinator()`: roots joined with a one-time token, started, kill -9'ed, and their hosts as the
 * coordinator lists them.
 */
export function agentProcesses(coordinator: () => Coordinator, heartbeatSec: number) {
  const children: Subprocess[] = [];
  const host = (name: string) => listHosts(coordinator().deps.db, heartbeatSec).find((h) => h.name === name);
  return {
    host,
    /** Writes `root`'s config and the join file holding `token`, for the agent's first start. */
    join(root: string, config: Record<string, unknown>, token: string): void {
      writeHostConfig(root, config);
      writeJoinFile(root, token);
    },
    /** Its stderr is piped only when asked: a pipe nobody reads could fill and block the agent. */
    start(root: string, stderr: "ignore" | "pipe" = "ignore"): Subprocess {
      const proc = Bun.spawn(["bun", MAIN, "serve"], {
        env: { ...process.env, ODOOOPS_ROOT: root },
        stdout: "ignore",
        stderr,
      });
      children.push(proc);
      return proc;
    },
    /** Waits for `name`'s first heartbeat (online, with the inventory it sends): its host. */
    firstHeartbeat: (name: string, timeoutMs = 90_000) =>
      until(
        `${name} online with an inventory`,
        () => {
          const v = host(name);
          return v?.status === "online" && v.inventory ? v : null;
        },
        timeoutMs,
      ),
    /** kill -9 of every agent started and not killed yet; resolves once they are gone. */
    async killAll(): Promise<void> {
      const gone = children.splice(0);
      for (const c of gone) c.kill("SIGKILL");
      await Promise.all(gone.map((c) => c.exited));
    },
  };
}

/**
 * A bare coordinator in process, a PostgreSQL cluster and one agent as a real process, joined as
 * `agentName` and started: `start()` returns once it heartbeated and wrote its credential to disk
 * (killed before that, it would try to join again with the spent token). `stop()` removes what
 * was made, also after a `start()` that failed half-way.
 */
export function oneAgentFleet(opts: { heartbeatSec: number; adminPassword: string; agentName: string }) {
  const namePrefix = testNamePrefix();
  let coordinator: Coordinator | undefined;
  let pg: TestPostgres | undefined;
  const roots: string[] = [];
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error("oneAgentFleet: not started");
    return v;
  };
  const agents = agentProcesses(() => started(coordinator), opts.heartbeatSec);
  return {
    namePrefix,
    agents,
    coordinator: () => started(coordinator),
    pg: () => started(pg),
    coordinatorRoot: () => started(roots[0]),
    agentRoot: () => started(roots[1]),
    async start(): Promise<void> {
      const bare = await startBareCoordinator({
        namePrefix,
        heartbeatSec: opts.heartbeatSec,
        adminPassword: opts.adminPassword,
      });
      roots.push(bare.root);
      coordinator = bare.daemon;
      pg = await startPostgres({ dockerAccess: false });
      const token = coordinator.deps.fleet.createJoinToken({ name: opts.agentName }).token;
      const agentRoot = makeTempDir(`odooops-${opts.agentName}-`);
      roots.push(agentRoot);
      agents.join(agentRoot, bareAgentConfig(pg, namePrefix, opts.heartbeatSec), token);
      agents.start(agentRoot);
      await agents.firstHeartbeat(opts.agentName, 60_000);
      await until("the agent's state written", () => existsSync(agentStateFile(resolvePaths(agentRoot))), 60_000);
    },
    async stop(): Promise<void> {
      await agents.killAll();
      await coordinator?.stop();
      await removeByNamePrefix(namePrefix);
      await pg?.stop();
      for (const r of roots) removeTempDir(r);
    },
  };
}

/** The partners' rows, independent of the product: what a move or a restore must carry over byte for byte. */
export const partnerSum = (pg: TestPostgres, db: string) =>
  pg.query(db, async (sql) => {
    const [r] = await sql<{ sum: string; n: number }[]>`
      SELECT md5(string_agg(concat_ws('|', id, name, email), ',' ORDER BY id)) AS sum, count(*)::int AS n FROM res_partner`;
    return r!;
  });

/** Where the env's attachments are on the host of `deps`. */
export const filestoreOf = (env: Environment, deps: Parameters<typeof envResources>[1]) =>
  join(envResources(env, deps).dataDir, "filestore", env.dbName);
