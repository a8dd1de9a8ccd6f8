/** How a BackupResult lands in the `backups` table (src/db/backup.sql.ts). */
import type { backups } from "../backup.sql";
import type { BackupResult } from "./run";

export type BackupRowUpdate = Pick<
  typeof backups.$inferInsert,
  "status" | "sizeBytes" | "localPath" | "s3Key" | "manifest" | "error" | "finishedAt"
>;

/**
 * Copies are recorded only where they are good: `localPath`/`s3Key` stay null for a target that
 * failed, so restore and retention never reach for a copy that is not there.
 */
export function backupRowUpdate(r: BackupResult): BackupRowUpdate {
  return {
    status: r.status,
    sizeBytes: r.manifest ? r.sizeBytes : null,
    localPath: r.local?.status === "ok" ? r.local.dir : null,
    s3Key: r.s3?.status === "ok" ? r.s3.prefix : null,
    manifest: r.manifest,
    error: r.error,
    finishedAt: r.finishedAt,
  };
}
