/** Finished backups in a window, for the service report (backup success rate). */
import { and, gte, inArray, sql } from "drizzle-orm";
import type { Db } from "../state/db";
import { backups } from "./backup.sql";

/** Completed (expired ones had completed) and failed backups finished since `since`, per env. */
export function backupOutcomesSince(db: Db, since: string): { envId: string; completed: number; failed: number }[] {
  return db
    .select({
      envId: backups.envId,
      completed: sql<number>`sum(CASE WHEN ${backups.status} = 'failed' THEN 0 ELSE 1 END)`,
      failed: sql<number>`sum(CASE WHEN ${backups.status} = 'failed' THEN 1 ELSE 0 END)`,
    })
    .from(backups)
    .where(and(inArray(backups.status, ["completed", "failed", "expired"]), gte(backups.finishedAt, since)))
    .groupBy(backups.envId)
    .all();
}
