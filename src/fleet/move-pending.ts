/**
 * The target's copy of a moving env, kept beside the row until the switch. The target's create
 * and restore report the columns of the copy they make (ports, container, release, status, the
 * database password the restore adopts); written into the row they would make `env get`, the
 * uptime probe, routing and every job of the old host see a copy that does not serve yet. So
 * they are held here, shown to the target only (its lease), made the row's at the switch, and
 * dropped when the move is undone.
 */
import { eq } from "drizzle-orm";
import type { Environment } from "../env/env.sql";
import { recordMoveSwitch } from "../env/state";
import type { Db } from "../state/db";
import { envMovePending } from "./fleet.sql";
import type { Columns } from "./mirror-wire";

/** The target's columns so far (empty: it reported none yet). */
export function pendingColumns(db: Db, envId: string): Columns<Environment> {
  const row = db.select().from(envMovePending).where(eq(envMovePending.envId, envId)).get();
  return (row?.columns ?? {}) as Columns<Environment>;
}

/** A report of the target's: merged over what it reported before, later values winning. */
export function holdPending(db: Db, envId: string, set: Columns<Environment>): void {
  const columns = { ...pendingColumns(db, envId), ...set };
  db.insert(envMovePending)
    .values({ envId, columns })
    .onConflictDoUpdate({ target: envMovePending.envId, set: { columns } })
    .run();
}

/** The switch made them the row's, or the move was undone: the target's copy is no longer apart. */
export function dropPending(db: Db, envId: string): void {
  db.delete(envMovePending).where(eq(envMovePending.envId, envId)).run();
}

/**
 * The switch: the env names the target as its host and takes the columns of the copy made there,
 * in one transaction, so nothing reads a row naming one host with the other's copy.
 */
export function switchToTarget(db: Db, envId: string, hosts: { to: string; from: string }): void {
  db.$client.transaction(() => {
    recordMoveSwitch(db, envId, hosts, pendingColumns(db, envId));
    dropPending(db, envId);
  })();
}
