/**
 * The migration guard as the page shows it, before anyone clicks: rolling back to `target` goes
 * past every later *deploy* that migrated the database (deploy/actions.ts startRollback decides the
 * same from the same rows), and then the person must choose to restore the first one's pre-deploy
 * backup or keep the newer database. Pure: the page and its tests share it.
 */
import type { DeploymentView } from "../deploy/schema";

export interface RollbackGuard {
  /** Releases in the way, oldest first; empty = a plain rollback. */
  migrations: number[];
  /** The backup a restore-db rollback would restore; null = only keep-db is possible. */
  backupId: string | null;
}

export function rollbackGuard(all: DeploymentView[], target: DeploymentView): RollbackGuard {
  const past = all
    .filter((d) => d.env === target.env && d.release > target.release && d.migrated && d.kind === "deploy")
    .sort((a, b) => a.release - b.release);
  return { migrations: past.map((d) => d.release), backupId: past[0]?.backupId ?? null };
}
