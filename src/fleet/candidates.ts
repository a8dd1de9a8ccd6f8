/**
 * The hosts as placement sees them, read from state: status from the last heartbeat, inventory
 * as last reported, and the limits of the live envs already placed on each (an env without a
 * host id runs on the coordinator's own host, where it was created before the fleet existed).
 * An env in a move counts on both of its hosts: the target holds its copy before the switch,
 * the host it left holds the old one until it is removed.
 */
import { isNull, ne } from "drizzle-orm";
import { environments } from "../env/env.sql";
import type { Db } from "../state/db";
import { hosts } from "./fleet.sql";
import { hostStatus } from "./hosts";
import type { Candidate, Need } from "./placement";

/** A fleet is any live host besides this coordinator's own: standalone hosts place nothing. */
export function inFleet(db: Db, localHostId: string | null): boolean {
  return db
    .select({ id: hosts.id })
    .from(hosts)
    .where(isNull(hosts.removedAt))
    .all()
    .some((h) => h.id !== localHostId);
}

export function placementCandidates(
  db: Db,
  opts: { localHostId: string | null; heartbeatSec: number; at: Date; exceptEnvId: string | null },
): Candidate[] {
  const placed = new Map<string, Need>();
  const envs = db
    .select({
      id: environments.id,
      hostId: environments.hostId,
      movingToHostId: environments.movingToHostId,
      movedFromHostId: environments.movedFromHostId,
      cpus: environments.cpus,
      memoryMb: environments.memoryMb,
    })
    .from(environments)
    .where(ne(environments.status, "destroyed"))
    .all();
  for (const e of envs) {
    if (e.id === opts.exceptEnvId) continue;
    const on = new Set([e.hostId ?? opts.localHostId, e.movingToHostId, e.movedFromHostId]);
    for (const hostId of on) {
      if (hostId === null) continue;
      const sum = placed.get(hostId) ?? { cpus: 0, memoryMb: 0, diskMb: 0 };
      placed.set(hostId, { cpus: sum.cpus + Number(e.cpus), memoryMb: sum.memoryMb + e.memoryMb, diskMb: 0 });
    }
  }
  return db
    .select()
    .from(hosts)
    .where(isNull(hosts.removedAt))
    .all()
    .map((h) => {
      const { status, offlineSince } = hostStatus(h, opts.at, opts.heartbeatSec);
      return {
        id: h.id,
        name: h.name,
        online: status === "online",
        offlineSince,
        draining: h.draining,
        labels: h.labels,
        inventory: h.inventory ?? null,
        placed: placed.get(h.id) ?? { cpus: 0, memoryMb: 0, diskMb: 0 },
      };
    });
}
