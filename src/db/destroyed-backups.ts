/**
 * A destroyed environment's backups (its final pre_destroy one included) outlive it for
 * `backups.keepDestroyedDays`, so a mistaken destroy can be undone with
 * `db restore OLD --backup ID --to NEW`; then a daily sweep deletes them. Retention of the
 * backup job never sees them: it works per env id, and a new env of the same name has its own.
 */
import { and, eq, inArray, isNotNull, lte } from "drizzle-orm";
import type { Schedule } from "../jobs/schedule";
import { environments } from "../env/env.sql";
import type { Deps } from "../deps";
import { Log } from "../log";
import { now as nowIso } from "../state/columns";
import { backups } from "./backup.sql";
import { deleteBackup } from "./backup";
import { errorText } from "../errors";

const log = Log.create("backups");
const DAY = 86_400_000;

/** When a destroyed env's backups go. */
export function destroyedKeepUntil(destroyedAt: string, keepDays: number): string {
  return new Date(Date.parse(destroyedAt) + keepDays * DAY).toISOString();
}

export interface DestroyedSweepResult {
  deleted: string[];
  /** An S3 copy with no S3 target configured: kept, said so. */
  skipped: string[];
  errors: string[];
}

export async function sweepDestroyedBackups(
  deps: Pick<Deps, "db" | "config">,
  at: Date,
): Promise<DestroyedSweepResult> {
  const { db, config } = deps;
  const cutoff = new Date(at.getTime() - config.backups.keepDestroyedDays * DAY).toISOString();
  const envs = db
    .select({ id: environments.id, slug: environments.slug })
    .from(environments)
    .where(
      and(
        eq(environments.status, "destroyed"),
        isNotNull(environments.destroyedAt),
        lte(environments.destroyedAt, cutoff),
      ),
    )
    .all();
  const result: DestroyedSweepResult = { deleted: [], skipped: [], errors: [] };
  if (envs.length === 0) return result;
  const slugOf = new Map(envs.map((e) => [e.id, e.slug]));
  // Running ones are left to their job (it fails them, and the next sweep takes them).
  const rows = db
    .select()
    .from(backups)
    .where(and(inArray(backups.envId, [...slugOf.keys()]), inArray(backups.status, ["completed", "failed"])))
    .all();
  for (const row of rows) {
    const s3 = config.backups.s3;
    if (row.s3Key && !s3) {
      result.skipped.push(row.id);
      continue;
    }
    try {
      await deleteBackup(
        { localDir: row.localPath, s3: row.s3Key && s3 ? { target: s3, prefix: row.s3Key } : null },
        log.tag({ backup: row.id, env: slugOf.get(row.envId) }),
      );
      db.update(backups)
        .set({ status: "expired", localPath: null, s3Key: null, expiresAt: nowIso() })
        .where(eq(backups.id, row.id))
        .run();
      result.deleted.push(row.id);
    } catch (e) {
      result.errors.push(`${row.id}: ${errorText(e)}`);
    }
  }
  if (result.deleted.length > 0 || result.skipped.length > 0)
    log.info("destroyed environments' backups past keepDestroyedDays", {
      deleted: result.deleted,
      skippedNoS3Target: result.skipped,
    });
  if (result.errors.length > 0)
    log.error("could not delete some destroyed environments' backups", { errors: result.errors });
  return result;
}

/** Daily, at a quiet minute. */
export function destroyedBackupsSchedule(clock: { now(): Date } = { now: () => new Date() }): Schedule {
  return {
    name: "backups.destroyed-sweep",
    pattern: "20 4 * * *",
    async tick(deps) {
      await sweepDestroyedBackups(deps, clock.now());
    },
  };
}
