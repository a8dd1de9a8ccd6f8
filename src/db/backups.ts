/**
 * What the API and CLI ask of backups: `startDbBackup` records the backup (running) and enqueues
 * its job; `listBackups` shows an env's backups with their retention expiry. Nothing here
 * touches the host.
 */
import { desc, eq, inArray } from "drizzle-orm";
import type { CoordinatorDeps, Deps } from "../deps";
import type { Db } from "../state/db";
import { envsNamed, findEnv } from "../env/lookup";
import type { Environment } from "../env/env.sql";
import { NotFound } from "../errors";
import type { JobView } from "../jobs/view";
import { backups } from "./backup.sql";
import { backupJob, type BackupRow, backupTargets, retentionDecisions } from "./backup-job";
import { destroyedKeepUntil } from "./destroyed-backups";
import type { BackupView } from "./schema";
import { requireCreated } from "../env/guards";

export function startDbBackup(
  deps: CoordinatorDeps,
  envName: string,
  actor: string,
  kind: "manual" | "scheduled" | "pre_deploy" | "pre_restore" = "manual",
): JobView {
  const env = findEnv(deps.db, envName);
  requireCreated(env, "only an active or stopped environment can be backed up");
  backupTargets(deps); // no target configured: refuse now rather than fail the job
  const row = deps.db
    .insert(backups)
    .values({ envId: env.id, kind, status: "running", dbName: env.dbName })
    .returning()
    .get();
  const job = deps.jobs.enqueue(backupJob, { envId: env.id, slug: env.slug, backupId: row.id }, actor);
  deps.audit.record({ actor, action: "db.backup", target: env.slug, details: { backup: row.id, kind, job: job.id } });
  return job;
}

/**
 * A backup row as another host stored it (the fleet's state link, src/fleet/mirror*.ts): an
 * agent keeps the coordinator's copy, the coordinator takes a row its agent inserted.
 */
export function mirrorBackup(db: Db, row: BackupRow): void {
  const { id: _id, ...columns } = row;
  db.insert(backups).values(row).onConflictDoUpdate({ target: backups.id, set: columns }).run();
}

/** The columns of a backup row that a job on the env's agent changed. */
export function applyMirroredBackupChange(db: Db, id: string, patch: Partial<Omit<BackupRow, "id">>): void {
  db.update(backups).set(patch).where(eq(backups.id, id)).run();
}

/**
 * The env's backups, newest first, with where they live and when retention lets them go. With
 * `includeDestroyed`, also those of every destroyed env that had this name (kept for
 * `backups.keepDestroyedDays` after it was destroyed, and restorable with `--to`).
 */
export function listBackups(
  deps: Pick<Deps, "db" | "config">,
  envName: string,
  limit: number,
  includeDestroyed = false,
): BackupView[] {
  const envs = includeDestroyed ? envsNamed(deps.db, envName) : [findEnv(deps.db, envName)];
  if (envs.length === 0) throw new NotFound(`no environment ${envName}, live or destroyed (see: odooops env list)`);
  const byId = new Map(envs.map((e) => [e.id, e]));
  const rows = deps.db
    .select()
    .from(backups)
    .where(inArray(backups.envId, [...byId.keys()]))
    .orderBy(desc(backups.createdAt), desc(backups.id))
    .limit(limit)
    .all();
  const decisions = new Map(envs.flatMap((e) => decisionsOf(deps, e)).map((d) => [d.id, d]));
  const bucket = deps.config.backups.s3?.bucket;
  return rows.map((r) => {
    const env = byId.get(r.envId)!;
    const d = decisions.get(r.id);
    return {
      id: r.id,
      env: env.slug,
      ...(includeDestroyed ? { envDestroyedAt: env.status === "destroyed" ? env.destroyedAt : null } : {}),
      kind: r.kind,
      status: r.status,
      dbName: r.dbName,
      sizeBytes: r.sizeBytes,
      createdAt: r.createdAt,
      finishedAt: r.finishedAt,
      // Expired rows keep the time they were deleted.
      expiresAt: d ? d.expiresAt : r.expiresAt,
      keptFor: d?.keep ? d.reasons : [],
      location: { local: r.localPath, s3: r.s3Key ? `s3://${bucket ?? "<unconfigured bucket>"}/${r.s3Key}` : null },
      error: r.error,
    };
  });
}

/** A live env's retention; a destroyed env's backups all go together, keepDestroyedDays after it. */
function decisionsOf(
  deps: Pick<Deps, "db" | "config">,
  env: Environment,
): { id: string; keep: boolean; reasons: string[]; expiresAt: string | null }[] {
  if (env.status !== "destroyed") return retentionDecisions(deps, env);
  const until = env.destroyedAt ? destroyedKeepUntil(env.destroyedAt, deps.config.backups.keepDestroyedDays) : null;
  return deps.db
    .select({ id: backups.id, status: backups.status })
    .from(backups)
    .where(eq(backups.envId, env.id))
    .all()
    .filter((b) => b.status === "completed" || b.status === "failed")
    .map((b) => ({ id: b.id, keep: true, reasons: ["destroyed-env"], expiresAt: until }));
}
