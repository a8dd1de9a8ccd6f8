/**
 * What the API and CLI ask of environments: each mutation validates, records intent in state,
 * audits, and enqueues a job; nothing here touches the host directly.
 */
import { and, eq } from "drizzle-orm";
import { backups } from "../db/backup.sql";
import { backupTargets } from "../db/backup-job";
import { Conflict, Invalid, errorText } from "../errors";
import type { CoordinatorDeps } from "../deps";
import type { JobView } from "../jobs/view";
import { createEnvJob } from "./create-job";
import { insertEnvironment, planCreate, type CreatePlan } from "./create";
import { statusText } from "./guards";
import { findEnv } from "./lookup";
import { requireConfirm } from "./production-guard";
import { destroyEnvJob, restartEnvJob, startEnvJob, stopEnvJob } from "./lifecycle-jobs";
import type { CreateEnvRequest } from "./schema";
import { envMove, hostNameOf, toSummary } from "./list";
import { refuseWhileMoving } from "./moving";
import type { Environment } from "./env.sql";
import { expiryAfter } from "./ttl";
import { markDestroying, recordExpiry } from "./state";

export type CreateOutcome =
  | { dryRun: true; plan: CreatePlan; steps: string[] }
  | { dryRun: false; env: ReturnType<typeof toSummary>; job: JobView };

export function startEnvCreate(deps: CoordinatorDeps, req: CreateEnvRequest, actor: string): CreateOutcome {
  const plan = planCreate(deps.db, deps.config, req, (placement) => deps.fleet.place(placement));
  if (req.dryRun) return { dryRun: true, plan, steps: createEnvJob.steps.map((s) => s.title) };
  // The row carries its host id from the insert: the job below is routed by it (fleet/routing.ts).
  const env = insertEnvironment(deps.db, deps.box, plan, actor);
  const job = deps.jobs.enqueue(createEnvJob, { envId: env.id, slug: env.slug }, actor);
  deps.audit.record({
    actor,
    action: "env.create",
    target: env.slug,
    details: { tier: env.tier, job: job.id, retry: plan.retryOf !== null, host: plan.host?.name ?? null },
  });
  return { dryRun: false, env: toSummary({ ...env, hostName: plan.host?.name ?? null, move: null }, deps.config), job };
}

function refuseWhileDestroying(env: Environment, what: string): void {
  if (env.status === "destroying") throw new Conflict(`environment ${env.slug} is being destroyed; cannot ${what}`);
}

export interface DestroyOptions {
  keepDatabase: boolean;
  /** The env's name again: required for production (requireConfirm). */
  confirm?: string;
  /** Drop production's database without the final backup. */
  skipFinalBackup?: boolean;
}

/**
 * A destroy that failed after its final backup (its removals had begun) is finished by a rerun:
 * the database may already be gone, so there is nothing left to back up again.
 */
function finishingDestroy(deps: CoordinatorDeps, env: Environment): boolean {
  if (env.status !== "failed" || !env.statusReason?.startsWith("destroy failed")) return false;
  const done = deps.db
    .select({ id: backups.id })
    .from(backups)
    .where(and(eq(backups.envId, env.id), eq(backups.kind, "pre_destroy"), eq(backups.status, "completed")))
    .get();
  return done !== undefined;
}

/** Production whose database goes is backed up first; without a target to back up to, the destroy is refused now. */
function needsFinalBackup(deps: CoordinatorDeps, env: Environment, opts: DestroyOptions): boolean {
  if (env.tier !== "production" || opts.keepDatabase || opts.skipFinalBackup) return false;
  if (finishingDestroy(deps, env)) return false;
  try {
    backupTargets(deps);
  } catch (e) {
    throw new Invalid(
      `destroying production environment ${env.slug} drops its database, which is backed up first, but ${errorText(e)}; or destroy with --skip-final-backup (API: skipFinalBackup=true)`,
    );
  }
  return true;
}

export function startEnvDestroy(deps: CoordinatorDeps, name: string, opts: DestroyOptions, actor: string): JobView {
  const env = findEnv(deps.db, name);
  const pending = deps.jobs.queue.activeOn(env.id);
  if (pending?.kind === destroyEnvJob.kind) return deps.jobs.queue.view(pending.id);
  requireConfirm(env, opts.confirm, "destroy");
  refuseWhileMoving(deps.db, env, "destroy it");
  const finalBackupId = needsFinalBackup(deps, env, opts) ? Bun.randomUUIDv7() : null;
  const previousStatus = env.status === "destroying" || env.status === "destroyed" ? null : env.status;
  markDestroying(deps.db, env.id);
  const job = deps.jobs.enqueue(
    destroyEnvJob,
    { envId: env.id, slug: env.slug, keepDatabase: opts.keepDatabase, finalBackupId, previousStatus },
    actor,
  );
  deps.audit.record({
    actor,
    action: "env.destroy",
    target: env.slug,
    details: {
      keepDatabase: opts.keepDatabase,
      finalBackup: finalBackupId,
      skipFinalBackup: opts.skipFinalBackup === true,
      job: job.id,
    },
  });
  return job;
}

export type PowerAction = "start" | "stop" | "restart";
const powerJobs = { start: startEnvJob, stop: stopEnvJob, restart: restartEnvJob };

export function startEnvPower(deps: CoordinatorDeps, name: string, action: PowerAction, actor: string): JobView {
  const env = findEnv(deps.db, name);
  refuseWhileDestroying(env, action);
  refuseWhileMoving(deps.db, env, action);
  if (env.status === "failed" || env.status === "creating") {
    throw new Conflict(
      `environment ${env.slug} is ${statusText(env)}; ${action} needs an environment that was created`,
    );
  }
  const job = deps.jobs.enqueue(powerJobs[action], { envId: env.id, slug: env.slug }, actor);
  deps.audit.record({ actor, action: `env.${action}`, target: env.slug, details: { job: job.id } });
  return job;
}

/** `env extend`: the env now expires `ttl` from now (`never`: not at all). */
export function extendEnvironment(
  deps: CoordinatorDeps,
  name: string,
  ttl: string,
  actor: string,
  at = new Date(),
): ReturnType<typeof toSummary> {
  const env = findEnv(deps.db, name);
  refuseWhileDestroying(env, "extend it");
  const updated = recordExpiry(deps.db, env.id, expiryAfter(ttl, at));
  deps.audit.record({
    actor,
    action: "env.extend",
    target: env.slug,
    details: { ttl, expiresAt: updated.ttlExpiresAt, was: env.ttlExpiresAt },
  });
  return toSummary(
    { ...updated, hostName: hostNameOf(deps.db, updated.hostId), move: envMove(deps.db, updated) },
    deps.config,
  );
}
