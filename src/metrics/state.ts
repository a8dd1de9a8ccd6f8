/**
 * What the metrics report, read from the state database at scrape time: every figure is a query
 * over the rows the rest of odooops already writes, so nothing can drift from `db backups`,
 * `jobs list` or `env list`.
 */
import { sql } from "drizzle-orm";
import { backups } from "../db/backup.sql";
import { deployments } from "../deploy/deploy.sql";
import { environments } from "../env/env.sql";
import type { Db } from "../state/db";

export interface BackupCount {
  env: string;
  tier: string;
  status: string;
  count: number;
}

/** Backups per env, tier and status; destroyed envs are left out (their alerts would never clear). */
export function backupCounts(db: Db): BackupCount[] {
  return db.all<BackupCount>(sql`
    SELECT e.slug AS env, e.tier AS tier, b.status AS status, count(b.id) AS count
    FROM ${environments} e LEFT JOIN ${backups} b ON b.env_id = e.id
    WHERE e.status <> 'destroyed'
    GROUP BY e.slug, e.tier, b.status
    ORDER BY e.slug`);
}

export interface LatestBackup {
  env: string;
  tier: string;
  finishedAt: string;
  startedAt: string;
  sizeBytes: number | null;
}

/**
 * Each live env's newest completed backup. The manifest's start is when pg_dump began; the row's
 * creation is when the backup was queued, used only when the manifest has none.
 */
export function latestCompletedBackups(db: Db): LatestBackup[] {
  return db.all<LatestBackup>(sql`
    SELECT env, tier, finishedAt, startedAt, sizeBytes FROM (
      SELECT e.slug AS env, e.tier AS tier, b.finished_at AS finishedAt,
        coalesce(json_extract(b.manifest, '$.startedAt'), b.created_at) AS startedAt, b.size_bytes AS sizeBytes,
        row_number() OVER (PARTITION BY e.slug ORDER BY b.finished_at DESC, b.id DESC) AS n
      FROM ${backups} b JOIN ${environments} e ON e.id = b.env_id
      WHERE e.status <> 'destroyed' AND b.status = 'completed' AND b.finished_at IS NOT NULL
    ) WHERE n = 1 ORDER BY env`);
}

export function environmentCounts(db: Db): { tier: string; status: string; count: number }[] {
  return db.all(sql`SELECT tier, status, count(*) AS count FROM ${environments} GROUP BY tier, status`);
}

export function deploymentCounts(db: Db): { status: string; count: number }[] {
  return db.all(sql`SELECT status, count(*) AS count FROM ${deployments} GROUP BY status`);
}
