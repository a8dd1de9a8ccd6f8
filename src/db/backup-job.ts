/**
 * `db backup` as a job: dump (database + filestore streamed to the configured targets, verified;
 * the `backups` row records the outcome) then retention (grandfather-father-son per tier, never
 * the newest good backup nor one a deployment references). The env id is the lock key, so one
 * backup — and no other mutating job — runs per environment at a time.
 */
import { join } from "node:path";
import { and, desc, eq, isNotNull, ne } from "drizzle-orm";
import { z } from "zod";
import type { Config } from "../config/schema";
import { deployments } from "../deploy/deploy.sql";
import { envResources } from "../env/resources";
import { loadEnvById } from "../env/lookup";
import type { Environment } from "../env/env.sql";
import { envDbLogin } from "../env/tenant-login";
import { Invalid, NotFound, errorText } from "../errors";
import { defineJob, stepOutput, storingStep, onEnv, EnvJobTarget } from "../jobs/define";
import type { Deps } from "../deps";
import { stepLogger } from "../jobs/step-logger";
import type { Logger } from "../log";
import { now } from "../state/columns";
import type { Db } from "../state/db";
import { backups } from "./backup.sql";
import {
  backupRowUpdate,
  deleteBackup,
  MANIFEST_KEY_PURPOSE,
  explainRetention,
  planRetention,
  runBackup,
  type BackupTargets,
  type RetentionBackup,
  type RetentionPolicy,
} from "./backup";

export const BackupJobParams = EnvJobTarget.extend({
  backupId: z.string().min(1),
});
export type BackupJobParams = z.infer<typeof BackupJobParams>;

export type BackupRow = typeof backups.$inferSelect;

/** Where backups go, from config; throws when none is configured. */
export function backupTargets(deps: Pick<Deps, "config" | "paths">): BackupTargets {
  const { local, s3 } = deps.config.backups;
  const targets: BackupTargets = {
    ...(local.enabled ? { local: local.dir !== "" ? local.dir : deps.paths.backupsDir } : {}),
    ...(s3 ? { s3 } : {}),
  };
  if (!targets.local && !targets.s3)
    throw new Invalid("no backup target configured: enable backups.local or set backups.s3");
  return targets;
}

export function retentionPolicy(config: Config, env: Pick<Environment, "tier">): RetentionPolicy {
  return config.backups.retention[env.tier];
}

/** Backups a deployment still points at (its rollback point): retention never deletes them. */
export function protectedBackupIds(db: Db, envId: string): string[] {
  return db
    .select({ id: deployments.backupId })
    .from(deployments)
    .where(and(eq(deployments.envId, envId), isNotNull(deployments.backupId)))
    .all()
    .map((r) => r.id)
    .filter((id): id is string => id !== null);
}

/** The env's backups retention still has to consider (expired ones are gone already). */
export function liveBackups(db: Db, envId: string): BackupRow[] {
  return db
    .select()
    .from(backups)
    .where(and(eq(backups.envId, envId), ne(backups.status, "expired")))
    .orderBy(desc(backups.createdAt))
    .all();
}

export function retentionInput(rows: BackupRow[]): RetentionBackup[] {
  return rows.map((r) => ({ id: r.id, createdAt: r.createdAt, status: r.status }));
}

/** Decisions for the env's live backups as of now. */
export function retentionDecisions(deps: Pick<Deps, "db" | "config">, env: Environment) {
  return explainRetention(
    retentionInput(liveBackups(deps.db, env.id)),
    retentionPolicy(deps.config, env),
    new Date(),
    protectedBackupIds(deps.db, env.id),
  );
}

function loadBackup(db: Db, id: string): BackupRow {
  const row = db.select().from(backups).where(eq(backups.id, id)).get();
  if (!row) throw new NotFound(`no backup ${id}`);
  return row;
}

function setBackup(db: Db, id: string, patch: Partial<typeof backups.$inferInsert>): void {
  db.update(backups).set(patch).where(eq(backups.id, id)).run();
}

export interface PerformedBackup {
  backupId: string;
  sizeBytes: number | null;
  local: string | null;
  s3: string | null;
}

/**
 * Runs the backup a `running` row describes and records the outcome in the row; throws when it
 * failed. A row already `completed` (a step resumed after it was written) is returned as is.
 * Shared by `db.backup` and the pre-restore backup of restore/clone.
 */
export async function performBackup(
  deps: Deps,
  backupId: string,
  log: Logger,
  signal: AbortSignal,
): Promise<PerformedBackup> {
  const { db, config, paths } = deps;
  const row = loadBackup(db, backupId);
  if (row.status === "completed")
    return { backupId: row.id, sizeBytes: row.sizeBytes, local: row.localPath, s3: row.s3Key };
  if (row.status !== "running")
    throw new Invalid(`backup ${row.id} is ${row.status}${row.error ? `: ${row.error}` : ""}`);
  const env = loadEnvById(db, row.envId);
  const targets = backupTargets(deps);
  const { host, port, user, password } = envDbLogin(deps, env, row.dbName);
  const result = await runBackup({
    pg: { host, port, user, password },
    dbName: row.dbName,
    filestoreDir: join(envResources(env, { paths, config }).dataDir, "filestore", row.dbName),
    envSlug: env.slug,
    backupId: row.id,
    targets,
    log,
    signal,
    compressLevel: config.backups.compressLevel,
    manifestKey: deps.box.derive(MANIFEST_KEY_PURPOSE),
  });
  setBackup(db, row.id, backupRowUpdate(result));
  if (result.status !== "completed") throw new Error(`backup ${row.id} failed: ${result.error ?? "unknown reason"}`);
  log.info(
    `backup ${row.id} completed: ${result.sizeBytes} bytes${result.local ? ` in ${result.local.dir}` : ""}${result.s3 ? ` and s3://${result.s3.bucket}/${result.s3.prefix}` : ""}`,
  );
  return {
    backupId: row.id,
    sizeBytes: result.sizeBytes,
    local: result.local?.dir ?? null,
    s3: result.s3 ? `s3://${result.s3.bucket}/${result.s3.prefix}` : null,
  };
}

/**
 * The backup a job takes before it replaces, migrates or drops a database. Its row is recorded
 * when the step runs, not at enqueue: a job cancelled while queued leaves no backup "running",
 * and a resumed step finishes the same id.
 */
export async function backupBeforeChange(
  deps: Deps,
  env: Environment,
  backupId: string,
  kind: "pre_restore" | "pre_destroy" | "pre_deploy",
  step: { log(line: string): void; signal: AbortSignal },
): Promise<PerformedBackup> {
  deps.db
    .insert(backups)
    .values({ id: backupId, envId: env.id, kind, status: "running", dbName: env.dbName })
    .onConflictDoNothing()
    .run();
  return performBackup(deps, backupId, stepLogger(step, { backup: backupId }), step.signal);
}

/** Marks a backup that is still `running` as failed (a job that owned it failed or was cancelled). */
export function failRunningBackup(db: Db, id: string, error: string): void {
  db.update(backups)
    .set({ status: "failed", error, finishedAt: now() })
    .where(and(eq(backups.id, id), eq(backups.status, "running")))
    .run();
}

const retentionOutput = stepOutput(
  "retention",
  z.object({ deleted: z.array(z.string()), skipped: z.array(z.string()) }),
);

export const backupJob = defineJob<BackupJobParams>({
  kind: "db.backup",
  params: BackupJobParams,
  ...onEnv,
  steps: [
    {
      name: "dump",
      title: "Backing up the database and filestore",
      async run(ctx) {
        await performBackup(ctx.deps, ctx.params.backupId, stepLogger(ctx), ctx.signal);
      },
    },
    storingStep(retentionOutput, {
      title: "Applying retention",
      async run(ctx) {
        const { db, config } = ctx.deps;
        const env = loadEnvById(db, ctx.params.envId);
        const policy = retentionPolicy(config, env);
        const rows = liveBackups(db, env.id);
        const protectedIds = protectedBackupIds(db, env.id);
        const at = new Date();
        const doomed = planRetention(retentionInput(rows), policy, at, protectedIds);
        ctx.log(
          `policy (${env.tier}): daily ${policy.daily}, weekly ${policy.weekly}, monthly ${policy.monthly}, last ${policy.last ?? 0}; ${rows.length} backups, ${doomed.length} to delete`,
        );
        const byId = new Map(rows.map((r) => [r.id, r]));
        const deleted: string[] = [];
        const skipped: string[] = [];
        const errors: string[] = [];
        for (const id of doomed) {
          const row = byId.get(id);
          if (!row) continue;
          const s3 = config.backups.s3;
          if (row.s3Key && !s3) {
            ctx.log(`warn: backup ${id} has an S3 copy (${row.s3Key}) but no S3 target is configured; kept`);
            skipped.push(id);
            continue;
          }
          try {
            await deleteBackup(
              { localDir: row.localPath, s3: row.s3Key && s3 ? { target: s3, prefix: row.s3Key } : null },
              stepLogger(ctx, { backup: id }),
            );
            setBackup(db, id, { status: "expired", localPath: null, s3Key: null, expiresAt: now() });
            deleted.push(id);
            ctx.log(`deleted backup ${id} (${row.status}, ${row.createdAt})`);
          } catch (e) {
            errors.push(`${id}: ${errorText(e)}`);
          }
        }
        // Keep the stored expiry in step with the policy (the listing recomputes it anyway).
        for (const d of explainRetention(retentionInput(liveBackups(db, env.id)), policy, at, protectedIds)) {
          if (d.keep) setBackup(db, d.id, { expiresAt: d.expiresAt });
        }
        if (errors.length > 0)
          throw new Error(`retention could not delete ${errors.length} backup(s): ${errors.join("; ")}`);
        return { deleted, skipped };
      },
    }),
  ],
  async succeeded(ctx) {
    const row = loadBackup(ctx.deps.db, ctx.params.backupId);
    return {
      env: ctx.params.slug,
      backupId: row.id,
      status: row.status,
      sizeBytes: row.sizeBytes,
      local: row.localPath,
      s3Key: row.s3Key,
      expired: ctx.output(retentionOutput).deleted,
    };
  },
  async failed(ctx, error, cancelled) {
    // Only a backup still running is ours to fail: a completed one stays good even when retention failed.
    failRunningBackup(ctx.deps.db, ctx.params.backupId, cancelled ? "backup cancelled" : error);
  },
});
