/**
 * Uptime, measured: every minute the daemon asks each env that should be serving for
 * `/web/health` through nginx with its Host header (what a customer's browser reaches), and
 * counts the answers per env and hour. Stopped, creating and destroyed envs are not asked: their
 * downtime is intended. A failed env is asked like an active one: failed is not a maintenance window.
 * Only the envs this host serves: an env placed on an agent answers through that agent's nginx,
 * which the coordinator does not reach (it opens no connection to agents).
 */
import { gte, inArray, lt, sql } from "drizzle-orm";
import type { CoordinatorDeps, Deps } from "../deps";
import type { Schedule } from "../jobs/schedule";
import { placedOnAgent } from "../env/placed-on-agent";
import { environments } from "../env/env.sql";
import { probeOnce } from "../env/health";
import { Log } from "../log";
import { uptimeHours } from "./uptime.sql";

const log = Log.create("uptime");
const SERVING = ["active", "failed"] as const;
/** Probes in flight at once: 100 envs answer within the minute even when some time out (5 s each). */
const CONCURRENCY = 8;
const DAY_MS = 86_400_000;

export function hourOf(at: Date): string {
  const h = new Date(at);
  h.setUTCMinutes(0, 0, 0);
  return h.toISOString();
}

export function recordProbe(deps: Pick<Deps, "db">, envId: string, at: Date, ok: boolean, detail: string): void {
  deps.db
    .insert(uptimeHours)
    .values({ envId, hour: hourOf(at), probes: 1, failures: ok ? 0 : 1, lastFailure: ok ? null : detail })
    .onConflictDoUpdate({
      target: [uptimeHours.envId, uptimeHours.hour],
      set: {
        probes: sql`${uptimeHours.probes} + 1`,
        failures: sql`${uptimeHours.failures} + ${ok ? 0 : 1}`,
        lastFailure: ok ? sql`${uptimeHours.lastFailure}` : detail,
      },
    })
    .run();
}

/** One round: every serving env probed through nginx, the answers counted; old hours pruned. */
export async function probeServingEnvs(
  deps: Pick<CoordinatorDeps, "db" | "config" | "fleet">,
  now = new Date(),
): Promise<{ probed: number; failed: number }> {
  const envs = deps.db
    .select({ id: environments.id, domain: environments.domain, hostId: environments.hostId })
    .from(environments)
    .where(inArray(environments.status, [...SERVING]))
    .all()
    .filter((e) => !placedOnAgent(e.hostId, deps.fleet.localHostId));
  const nginx = `http://127.0.0.1:${deps.config.nginx.httpPort}`;
  let failed = 0;
  for (let i = 0; i < envs.length; i += CONCURRENCY) {
    await Promise.all(
      envs.slice(i, i + CONCURRENCY).map(async (e) => {
        const r = await probeOnce({ url: nginx, host: e.domain });
        if (!r.ok) failed += 1;
        recordProbe(deps, e.id, now, r.ok, r.detail.slice(0, 300));
      }),
    );
  }
  const keepFrom = hourOf(new Date(now.getTime() - deps.config.uptime.keepDays * DAY_MS));
  deps.db.delete(uptimeHours).where(lt(uptimeHours.hour, keepFrom)).run();
  return { probed: envs.length, failed };
}

export interface EnvUptime {
  envId: string;
  probes: number;
  failures: number;
  lastFailure: string | null;
}

/** Probes and failures per env since `since` (the hour containing it counts whole). */
export function uptimeSince(deps: Pick<Deps, "db">, since: Date): EnvUptime[] {
  return deps.db
    .select({
      envId: uptimeHours.envId,
      probes: sql<number>`sum(${uptimeHours.probes})`,
      failures: sql<number>`sum(${uptimeHours.failures})`,
      lastFailure: sql<
        string | null
      >`max(CASE WHEN ${uptimeHours.failures} > 0 THEN ${uptimeHours.hour} || ' ' || ${uptimeHours.lastFailure} END)`,
    })
    .from(uptimeHours)
    .where(gte(uptimeHours.hour, hourOf(since)))
    .groupBy(uptimeHours.envId)
    .all();
}

export function uptimeSchedule(pattern: string): Schedule {
  return {
    name: "uptime.probe",
    pattern,
    async tick(deps) {
      const r = await probeServingEnvs(deps);
      if (r.failed > 0) log.warn("envs not answering through nginx", { probed: r.probed, failed: r.failed });
    },
  };
}
