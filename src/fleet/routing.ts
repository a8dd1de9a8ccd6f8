/**
 * Which host runs a job: every job that acts on an env is locked on the env's id (defineJob's
 * lockKey), so the env's host is found from the lock key — every env job kind, present and
 * future, goes to the env's host without each call site naming it.
 */
import { eq } from "drizzle-orm";
import type { CoordinatorDeps } from "../deps";
import { environments } from "../env/env.sql";
import { Unavailable } from "../errors";
import type { Db } from "../state/db";
import { hostById, hostStatus } from "./hosts";

export function envHostId(db: Db, lockKey: string): string | null {
  return (
    db.select({ hostId: environments.hostId }).from(environments).where(eq(environments.id, lockKey)).get()?.hostId ??
    null
  );
}

/**
 * The agent host an env's containers run on, for what the coordinator reads from them (logs);
 * null when they run here. An offline host is refused at once: nothing would pick the request up.
 */
export function remoteHostOf(
  deps: Pick<CoordinatorDeps, "db" | "fleet">,
  hostId: string | null,
  at: Date = new Date(),
): string | null {
  if (hostId === null || hostId === deps.fleet.localHostId) return null;
  const host = hostById(deps.db, hostId);
  if (!host) throw new Unavailable("the host of this environment was removed: its containers cannot be read");
  const { offlineSince } = hostStatus(host, at, deps.fleet.heartbeatSec);
  if (offlineSince !== null)
    throw new Unavailable(`host ${host.name} is offline (since ${offlineSince}): its containers cannot be read now`);
  return host.id;
}
