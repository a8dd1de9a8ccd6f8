/**
 * What the API and CLI ask of backups: `startBackup` records the backup (running) and enqueues
 * its job; `listBackups` shows an env's backups with their retention expiry. Nothing here
 * touches the host.
 */
import { desc, eq } from "drizzle-orm";
import { Conflict } from "../errors";
import type { EnvServiceDeps } from "../env/actions";
import { findEnv } from "../env/lookup";
import type { JobDeps } from "../jobs/define";
import type { JobView } from "../jobs/view";
import { backups } from "./backup.sql";
import { backupJob, backupTargets, retentionDecisions } from "./backup-job";
import type { BackupView } from "./schema";

const BACKUPABLE = new Set(["active", "stopped"]);

export function startBackup(deps: EnvServiceDeps, envName: string, actor: string, kind: "manual" | "scheduled" | "pre_deploy" | "pre_restore" = "manual"): JobView {
  const env = findEnv(deps.db, envName);
  if (!BACKUPABLE.has(env.status)) {
    throw new Conflict(`environment ${env.slug} is ${env.status}${env.statusReason ? ` (${env.statusReason})` : ""}; only an active or stopped environment can be backed up`);
  }
  backupTargets(deps); // no target configured: refuse now rather than fail the job
  const row = deps.db.insert(backups).values({ envId: env.id, kind, status: "running", dbName: env.dbName }).returning().get();
  const job = deps.jobs.enqueue(backupJob, { envId: env.id, slug: env.slug, backupId: row.id }, actor);
  deps.audit.record({ actor, action: "db.backup", target: env.slug, details: { backup: row.id, kind, job: job.id } });
  return job;
}

/** The env's backups, newest first, with where they live and when retention lets them go. */
export function listBackups(deps: Pick<JobDeps, "db" | "config">, envName: string, limit: number): BackupView[] {
  const env = findEnv(deps.db, envName);
  const rows = deps.db.select().from(backups).where(eq(backups.envId, env.id)).orderBy(desc(backups.createdAt), desc(backups.id)).limit(limit).all();
  const decisions = new Map(retentionDecisions(deps, env).map((d) => [d.id, d]));
  const bucket = deps.config.backups.s3?.bucket;
  return rows.map((r) => {
    const d = decisions.get(r.id);
    return {
      id: r.id,
      env: env.slug,
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
