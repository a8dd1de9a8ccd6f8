/** Deployment rows: the only module that writes them; reading, updating and their API view. */
import { and, desc, eq, isNull, max } from "drizzle-orm";
import { NotFound } from "../errors";
import type { Environment } from "../env/env.sql";
import { now } from "../state/columns";
import type { Db } from "../state/db";
import { findJob, succeededSince } from "../jobs/lookup";
import { deployments } from "./deploy.sql";
import type { DeploymentView } from "./schema";

export type DeploymentRow = typeof deployments.$inferSelect;

const FINISHED = new Set<DeploymentRow["status"]>(["success", "failed", "rejected", "cancelled"]);

/**
 * A deployment whose job was cancelled while still queued never ran its `failed` hook: it says
 * so now (`cancelled`, not `failed` nor forever `queued`).
 */
function settled(db: Db, row: DeploymentRow): DeploymentRow {
  if (FINISHED.has(row.status) || !row.jobId) return row;
  const job = findJob(db, row.jobId);
  if (job?.status !== "cancelled") return row;
  const patch = { status: "cancelled" as const, error: "deployment cancelled", finishedAt: job.finishedAt ?? now() };
  setDeployment(db, row.id, patch);
  return { ...row, ...patch };
}

export function loadDeployment(db: Db, id: string): DeploymentRow {
  const row = db.select().from(deployments).where(eq(deployments.id, id)).get();
  if (!row) throw new NotFound(`no deployment ${id} (see: odooops deploy list <env>)`);
  return settled(db, row);
}

/** A new deployment row (status `queued`). */
export function insertDeployment(db: Db, values: typeof deployments.$inferInsert): DeploymentRow {
  return db.insert(deployments).values(values).returning().get();
}

/**
 * Records an approval decision unless one is already there (approve and reject race the
 * approval timeout): the updated row, or undefined when another decision came first.
 */
export function recordApprovalDecision(
  db: Db,
  id: string,
  decision: NonNullable<DeploymentRow["approvalDecision"]>,
  by: string | null,
  reason: string | null,
): DeploymentRow | undefined {
  return db
    .update(deployments)
    .set({ approvalDecision: decision, approvalBy: by, approvalReason: reason, approvalAt: now() })
    .where(and(eq(deployments.id, id), isNull(deployments.approvalDecision)))
    .returning()
    .get();
}

/**
 * A deployment row as another host stored it (the fleet's state link, src/fleet/mirror*.ts): an
 * agent keeps the coordinator's copy, the coordinator takes a row its agent inserted.
 */
export function mirrorDeployment(db: Db, row: DeploymentRow): void {
  const { id: _id, ...columns } = row;
  db.insert(deployments).values(row).onConflictDoUpdate({ target: deployments.id, set: columns }).run();
}

export function setDeployment(db: Db, id: string, patch: Partial<typeof deployments.$inferInsert>): void {
  db.update(deployments).set(patch).where(eq(deployments.id, id)).run();
}

/** Records how long a step took on the deployment row (the job keeps the full log). */
export function recordTiming(db: Db, id: string, step: string, ms: number): void {
  const row = loadDeployment(db, id);
  setDeployment(db, id, { stepTimings: { ...(row.stepTimings ?? {}), [step]: ms } });
}

/** Runs `fn` and records how long it took as the deployment's `step` timing, whatever its outcome. */
export async function timedStep<T>(db: Db, id: string, step: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    recordTiming(db, id, step, Math.round(performance.now() - t0));
  }
}

/** Jobs that put another database in an env's place (restore, clone, import). */
export const DB_REPLACING_JOBS = ["db.restore", "db.clone", "db.import"] as const;

/**
 * Whether the env's database was replaced after `since` (ever, when null): its modules then ran
 * whatever code the copy's source ran, so no checksum recorded by a deployment describes it.
 */
export function databaseReplacedSince(db: Db, envId: string, since: string | null): boolean {
  return succeededSince(db, envId, DB_REPLACING_JOBS, since);
}

/**
 * What a deployment compares module checksums with: those of the serving release's addons (a
 * content change without a version bump is still an update), null before the first deployment.
 * After a restore, clone or import no checksum describes the database: `{}` makes every
 * installed repo module count as changed, so unversioned changes reach the copy too.
 */
export function baselineChecksums(
  db: Db,
  env: Pick<Environment, "id" | "currentDeploymentId">,
): Record<string, string> | null {
  const current = successfulDeployments(db, env.id).find((d) => d.id === env.currentDeploymentId);
  if (databaseReplacedSince(db, env.id, current?.finishedAt ?? null)) return {};
  return current?.moduleChecksums ?? null;
}

export function successfulDeployments(db: Db, envId: string): DeploymentRow[] {
  return db
    .select()
    .from(deployments)
    .where(and(eq(deployments.envId, envId), eq(deployments.status, "success")))
    .orderBy(desc(deployments.release))
    .all();
}

export function envDeployments(db: Db, envId: string, limit: number): DeploymentRow[] {
  return db
    .select()
    .from(deployments)
    .where(eq(deployments.envId, envId))
    .orderBy(desc(deployments.release))
    .limit(limit)
    .all()
    .map((r) => settled(db, r));
}

/** Release numbers only grow: r1 is the env's first container, every deployment gets the next one. */
export function nextRelease(db: Db, env: Pick<Environment, "id" | "release">): number {
  const top =
    db
      .select({ m: max(deployments.release) })
      .from(deployments)
      .where(eq(deployments.envId, env.id))
      .get()?.m ?? 0;
  return Math.max(env.release, top, 1) + 1;
}

export function finishDeployment(db: Db, id: string, patch: Partial<typeof deployments.$inferInsert>): void {
  setDeployment(db, id, { ...patch, finishedAt: now() });
}

export function toDeploymentView(
  row: DeploymentRow,
  env: Pick<Environment, "slug" | "currentDeploymentId">,
): DeploymentView {
  return {
    id: row.id,
    env: env.slug,
    release: row.release,
    kind: row.kind,
    status: row.status,
    commit: row.commitSha,
    branch: row.branch,
    image: row.image,
    modulesUpdated: row.modulesUpdated ?? [],
    modulesInstalled: row.modulesInstalled ?? [],
    migrated: row.migrated,
    backupId: row.backupId,
    rollbackOf: row.rollbackOf,
    gates: row.gates ?? null,
    approval:
      row.approvalDeadline || row.approvalDecision
        ? {
            deadline: row.approvalDeadline,
            decision: row.approvalDecision,
            by: row.approvalBy,
            reason: row.approvalReason,
            at: row.approvalAt,
          }
        : null,
    current: env.currentDeploymentId === row.id,
    jobId: row.jobId,
    stepTimings: row.stepTimings ?? {},
    error: row.error,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    finishedAt: row.finishedAt,
  };
}
