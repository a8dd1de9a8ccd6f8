/**
 * An agent's side of `env get`'s disk use: the envs placed on this host, measured against its own
 * PostgreSQL and filestores, sent with its heartbeat (the coordinator's cluster has none of them).
 */
import { and, eq, ne } from "drizzle-orm";
import type { Deps } from "../deps";
import type { HostEnvDisk } from "../fleet/fleet.sql";
import { envDiskUse } from "./detail";
import { environments } from "./env.sql";

/**
 * Walking a filestore is not free: measured at most this often, the last figures sent in between,
 * unless the envs on the host changed (a new env is measured at the next heartbeat).
 */
export const ENV_DISK_EVERY_MS = 5 * 60_000;

export function envDiskReporter(
  deps: Pick<Deps, "db" | "config" | "paths">,
  hostId: string,
  everyMs = ENV_DISK_EVERY_MS,
): () => Promise<HostEnvDisk[]> {
  let last: { at: number; report: HostEnvDisk[] } | null = null;
  return async () => {
    const at = Date.now();
    const envs = deps.db
      .select()
      .from(environments)
      .where(and(eq(environments.hostId, hostId), ne(environments.status, "destroyed")))
      .orderBy(environments.id)
      .all();
    const same = last?.report.length === envs.length && envs.every((e, i) => last?.report[i]?.env === e.id);
    if (last && same && at - last.at < everyMs) return last.report;
    const report: HostEnvDisk[] = [];
    // One at a time: the heartbeat is not urgent, the host's disk and PostgreSQL serve Odoo.
    for (const env of envs)
      report.push({ env: env.id, ...(await envDiskUse(deps, env)), measuredAt: new Date().toISOString() });
    last = { at, report };
    return report;
  };
}
