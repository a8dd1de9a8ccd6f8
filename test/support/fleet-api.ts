/**
 * A coordinator's API in process, with its agent routes, for fleet tests that play the agents
 * themselves: join hosts with real join tokens, call `/api/v1/agent/*` with their credentials,
 * place env rows on them.
 */
import { createAgentApp } from "../../src/api/routes/agent";
import { ConfigSchema } from "../../src/config/schema";
import { environments } from "../../src/env/env.sql";
import { type HostInventory, hosts } from "../../src/fleet/fleet.sql";
import { CoordinatorClient } from "../../src/fleet/coordinator-client";
import { recordHeartbeat } from "../../src/fleet/hosts";
import type { AnyJobDef } from "../../src/jobs/define";
import type { Db } from "../../src/state/db";
import { makeTestApi } from "./api";

/** What a joining agent reports about its machine; only its shape matters to these tests. */
export const AGENT_INVENTORY = {
  cores: 4,
  memoryMb: 8192,
  diskFreeMb: 50_000,
  load: 0.5,
  docker: "24.0.5",
  postgres: "15.4",
  nginx: "1.22.1",
  agentVersion: "0.1.0",
};

/** A host with room for anything the API tests place on it. */
export const ROOMY_INVENTORY: HostInventory = {
  cores: 8,
  memoryMb: 16_384,
  diskFreeMb: 500_000,
  load: 0,
  docker: null,
  postgres: null,
  nginx: null,
  agentVersion: "0.1.0",
};

/** An agent host row that has just heartbeaten (online), as if it had joined; returns its id. */
export function onlineAgent(db: Db, name: string, inventory: HostInventory = ROOMY_INVENTORY): string {
  const row = db.insert(hosts).values({ name, role: "agent" }).returning().get();
  recordHeartbeat(db, row.id, { inventory, containers: [] });
  return row.id;
}

/** The certificate pin the coordinator's agent API is configured with (its join tokens carry it). */
export const COORDINATOR_FINGERPRINT = Array(32).fill("0F").join(":");

export type JoinedHost = { hostId: string; name: string; credential: string; heartbeatSec: number };

/** A coordinator (`role: coordinator`, the given `fleet` settings) whose agent API the test calls. */
export async function startCoordinatorApi(fleet: Record<string, unknown> = {}) {
  const t = await makeTestApi({ config: ConfigSchema.parse({ role: "coordinator", fleet }) });
  t.deps.fleet.endpoint = { url: "https://127.0.0.1:8421", fingerprint: COORDINATOR_FINGERPRINT };
  const agentApi = createAgentApp(t.deps);
  const agentCall = (path: string, body: unknown, credential = "", signal?: AbortSignal) =>
    agentApi.request(`/api/v1/agent${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(credential && { authorization: `Bearer ${credential}` }) },
      body: JSON.stringify(body),
      ...(signal && { signal }),
    });
  /** Joins a host named `name` with a fresh token; throws unless the coordinator took it. */
  const join = async (name: string, inventory: object = AGENT_INVENTORY): Promise<JoinedHost> => {
    const token = t.deps.fleet.createJoinToken({ name }).token;
    const r = await agentCall("/join", { token, name, inventory });
    if (r.status !== 201) throw new Error(`join ${name}: HTTP ${r.status} ${await r.text()}`);
    return (await r.json()) as JoinedHost;
  };
  return { t, agentApi, agentCall, join };
}

/** What the hosts joined by startClientCoordinator report: a small machine. */
const CLIENT_HOST_INVENTORY = {
  cores: 2,
  memoryMb: 2048,
  diskFreeMb: 10_000,
  load: 0,
  docker: null,
  postgres: null,
  nginx: null,
  agentVersion: "0.1.0",
};

/**
 * A coordinator (`role: coordinator`) that the test reaches as an agent does: through a real
 * CoordinatorClient whose requests the coordinator's agent app answers in process.
 * `joinHost(name)` joins a host with a fresh token: its id and credential.
 */
export async function startClientCoordinator(opts: { extraJobs?: AnyJobDef[] } = {}) {
  const t = await makeTestApi({ extraJobs: opts.extraJobs, config: ConfigSchema.parse({ role: "coordinator" }) });
  const link = { url: "https://coordinator.test", fingerprint: "unused", certPem: "unused" };
  t.deps.fleet.endpoint = { url: link.url, fingerprint: Array(32).fill("01").join(":") };
  const agentApp = createAgentApp(t.deps);
  const client = (credential: string | null) =>
    new CoordinatorClient(link, credential, (url, init) => Promise.resolve(agentApp.request(url, init)));
  const joinHost = (name: string) =>
    client(null).post<{ hostId: string; credential: string }>("/join", {
      token: t.deps.fleet.createJoinToken({ name }).token,
      name,
      inventory: CLIENT_HOST_INVENTORY,
    });
  return { t, agentApp, client, joinHost };
}

export type ClientCoordinator = Awaited<ReturnType<typeof startClientCoordinator>>;

type EnvValues = typeof environments.$inferInsert;

/** An env row placed on `hostId` (null: the coordinator's own), as if it had been created there. */
export function insertEnv(
  db: Db,
  projectId: string,
  name: string,
  hostId: string | null,
  overrides: Partial<EnvValues> = {},
) {
  const dbName = `odoo_${name.replaceAll("-", "_")}`;
  return db
    .insert(environments)
    .values({
      projectId,
      name,
      slug: name,
      tier: "dev",
      status: "active",
      hostId,
      odooImage: "odoo:17.0",
      domain: `${name}.test`,
      dbName,
      dbUser: dbName,
      dbPasswordEnc: "x",
      adminPasswdEnc: "x",
      cpus: "1",
      memoryMb: 512,
      modules: ["base"],
      ...overrides,
    })
    .returning()
    .get();
}

export type CoordinatorApi = Awaited<ReturnType<typeof startCoordinatorApi>>;
