/** `env get`: the summary plus what the env uses on its host (database and filestore sizes). */
import { readdirSync, lstatSync } from "node:fs";
import { join } from "node:path";
import type { CoordinatorDeps, Deps } from "../deps";
import { databaseSize } from "../host/postgres";
import { Log } from "../log";
import { projectPolicy } from "../policy/load";
import { storageState } from "../policy/quota";
import { envHost } from "./host";
import { findEnv } from "./lookup";
import { envResources } from "./resources";
import type { EnvDetail } from "./schema";
import { envMove, hostNameOf, toSummary } from "./list";
import type { Environment } from "./env.sql";
import { errorText } from "../errors";
import { hosts } from "../fleet/fleet.sql";
import { eq } from "drizzle-orm";

const log = Log.create("env");

/**
 * Bytes under `dir` (the tenant's: no symlinks followed, nothing mounted below counted); null
 * when it does not exist.
 */
export function directorySize(dir: string): number | null {
  let total = 0;
  const walk = (d: string, dev: number) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const st = lstatSync(join(d, entry.name));
      if (st.dev !== dev) continue;
      if (st.isDirectory()) walk(join(d, entry.name), dev);
      else total += st.size;
    }
  };
  try {
    walk(dir, lstatSync(dir).dev);
  } catch {
    return null;
  }
  return total;
}

/** What the env stores: its database and its data dir (filestore, sessions); null where unknown. */
export async function envDiskUse(
  deps: Pick<Deps, "config" | "paths">,
  env: Environment,
): Promise<{ databaseBytes: number | null; filestoreBytes: number | null }> {
  let databaseBytes: number | null = null;
  try {
    databaseBytes = await envHost(deps).withAdmin((sql) => databaseSize(sql, env.dbName));
  } catch (err) {
    // The detail view must work while PostgreSQL is down; the size is then unknown.
    log.warn("database size unavailable", { env: env.slug, error: errorText(err) });
  }
  return { databaseBytes, filestoreBytes: directorySize(envResources(env, deps).dataDir) };
}

/**
 * Disk use where the env runs: measured here for the coordinator's own host; for an agent's env,
 * the figures its last heartbeat carried (this host's PostgreSQL is another cluster), or unknown.
 * `env get` and `policy show` read it; a deploy measures on the host that runs it (deploy/policy.ts).
 */
export async function diskWhereItRuns(
  deps: Pick<Deps, "db" | "config" | "paths">,
  env: Environment,
): Promise<EnvDetail["disk"]> {
  const host = env.hostId
    ? deps.db
        .select({ name: hosts.name, role: hosts.role, envDisk: hosts.envDisk })
        .from(hosts)
        .where(eq(hosts.id, env.hostId))
        .get()
    : undefined;
  if (host?.role !== "agent")
    return { ...(await envDiskUse(deps, env)), measuredOn: host?.name ?? null, measuredAt: new Date().toISOString() };
  const reported = host.envDisk?.find((d) => d.env === env.id);
  return {
    databaseBytes: reported?.databaseBytes ?? null,
    filestoreBytes: reported?.filestoreBytes ?? null,
    measuredOn: host.name,
    measuredAt: reported?.measuredAt ?? null,
  };
}

/** The env's first job in line when it is queued for an offline host: what it waits for. */
function waitingForHost(deps: Pick<CoordinatorDeps, "jobs">, envId: string): string | null {
  const next = deps.jobs.queue.activeOn(envId);
  if (next?.status !== "queued") return null;
  const wait = deps.jobs.queue.view(next.id).waitingForHost;
  return wait && `job ${next.id} (${next.kind}) ${wait}`;
}

export async function envDetail(
  deps: Pick<CoordinatorDeps, "db" | "config" | "paths" | "jobs">,
  name: string,
): Promise<EnvDetail> {
  const env = findEnv(deps.db, name);
  const { config } = deps;
  const disk = await diskWhereItRuns(deps, env);
  const quota = projectPolicy(deps.db, env.projectId).resource_quotas[env.tier];
  const pgHost = config.postgres.containerHost;
  return {
    ...toSummary({ ...env, hostName: hostNameOf(deps.db, env.hostId), move: envMove(deps.db, env) }, config),
    domain: env.domain,
    databaseUrl: `postgresql://${env.dbUser}:***@${pgHost}:${config.postgres.port}/${env.dbName}`,
    workers: env.workers,
    cpus: Number(env.cpus),
    memoryMb: env.memoryMb,
    modules: env.modules,
    demo: env.demo,
    httpPort: env.httpPort,
    longpollPort: env.longpollPort,
    currentRelease: env.release || null,
    disk,
    storageQuota: storageState(disk, quota),
    updatedAt: env.updatedAt,
    waitingForHost: waitingForHost(deps, env.id),
  };
}
