/**
 * A fleet on this machine for end-to-end tests: a coordinator (`startDaemon`, role coordinator)
 * and agents (`startAgentDaemon`, joined with a one-time token over the pinned HTTPS agent API),
 * each with its own root, PostgreSQL cluster, nginx, port range, docker name prefix
 * (`<id>-c`, `<id>-a`, …: one `removeByNamePrefix(id)` removes every host's containers) and
 * address on the loopback range. The coordinator's user and agent APIs listen on its address, on
 * a fixed agent API port, so `restart()` brings it back where the agents pinned it. An agent is
 * reached on its address (the vhosts listen on every address, as on a real host).
 */
import { SecretBox } from "../../src/auth/secretbox";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { startAgentDaemon } from "../../src/daemon/agent";
import { startDaemon } from "../../src/daemon/serve";
import { decodeJoinToken } from "../../src/fleet/join-token";
import { writeJoin } from "../../src/init/join";
import type { AnyJobDef } from "../../src/jobs/define";
import { TERMINAL } from "../../src/jobs/status";
import type { JobView } from "../../src/jobs/view";
import { removeByNamePrefix, testNamePrefix } from "./docker";
import { hostConfig, randomPortBase, writeHostConfig } from "./host-config";
import { startNginx, type TestNginx } from "./nginx";
import { freePort } from "./ports";
import { startPostgres, type TestPostgres } from "./postgres";

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
}

const ADMIN_PASSWORD = "fleet-test-admin-pw";

type Coordinator = Awaited<ReturnType<typeof startDaemon>>;
type AgentDaemon = Awaited<ReturnType<typeof startAgentDaemon>>;

export interface FleetAgent extends AgentSpec {
  prefix: string;
  pg: TestPostgres;
  nginx: TestNginx;
  daemon: AgentDaemon;
  /** GET `path` through this agent's nginx, on its address, for a vhost. */
  get(domain: string, path: string): Promise<Response>;
}

export async function startFleet(opts: FleetOptions) {
  const id = testNamePrefix();
  const resources: { stop(): Promise<void> }[] = [];
  const agents: FleetAgent[] = [];
  let coordinator: Coordinator | null = null;
  let startCoordinator: (() => Promise<Coordinator>) | null = null;
  let token = "";
  let coordinatorHost: { pg: TestPostgres; nginx: TestNginx } | null = null;

  const cleanup = async () => {
    for (const a of agents) await a.daemon.stop().catch(() => undefined);
    await coordinator?.stop().catch(() => undefined);
    coordinator = null;
    await removeByNamePrefix(id);
    await Promise.all(resources.map((r) => r.stop().catch(() => undefined)));
  };

  try {
    const host = async (
      prefix: string,
      extra: Record<string, unknown>,
      more?: (nginx: TestNginx) => Promise<Record<string, unknown>>,
    ) => {
      const [pg, nginx] = await Promise.all([startPostgres({ dockerAccess: false }), startNginx()]);
      resources.push(pg, nginx);
      const config = hostConfig(
        { pg, nginx, baseDomain: "fleet.localhost", namePrefix: prefix, portsFrom: randomPortBase(), portCount: 200 },
        { ...opts.shared, ...extra, ...(more && (await more(nginx))) },
      );
      return { pg, nginx, config };
    };

    const fleetPort = await freePort(opts.coordinatorAddress);
    const coord = await host(`${id}-c`, {
      role: "coordinator",
      fleet: { listen: `${opts.coordinatorAddress}:${fleetPort}`, heartbeatSec: 1 },
    });
    writeHostConfig(coord.nginx.dir, coord.config);
    coordinatorHost = { pg: coord.pg, nginx: coord.nginx };
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
      const join = coordinator.deps.fleet.createJoinToken({ name: spec.name, labels: spec.labels }).token;
      const paths = resolvePaths(h.nginx.dir);
      writeJoin(paths, { url: decodeJoinToken(join).url, token: join }, SecretBox.fromFile(paths.secretKeyFile));
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

  return {
    id,
    agents,
    coordinator: current,
    /** The coordinator's own PostgreSQL and nginx: the envs it runs itself live there. */
    coordinatorHost(): { pg: TestPostgres; nginx: TestNginx } {
      if (!coordinatorHost) throw new Error("the fleet did not start");
      return coordinatorHost;
    },
    api,
    async waitJob(jobId: string, timeoutMs = 240_000): Promise<JobView> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const { body } = await api<JobView>("GET", `/jobs/${jobId}`);
        if (TERMINAL.has(body.status)) return body;
        if (Date.now() > until) throw new Error(`job ${jobId} still ${body.status}`);
        await Bun.sleep(250);
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
