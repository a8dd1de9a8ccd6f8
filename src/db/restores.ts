/**
 * What the API and CLI ask of restore and clone: resolve and check the request into a plan
 * (`dryRun` stops there: the CLI shows it before asking for confirmation), then record intent,
 * audit and enqueue the job on the target env. Nothing here touches the host.
 */
import { and, desc, eq } from "drizzle-orm";
import type { CoordinatorDeps } from "../deps";
import { findEnv, findEnvOrDestroyed, loadEnvById } from "../env/lookup";
import { envUrl } from "../env/list";
import type { Environment } from "../env/env.sql";
import { Invalid, NotFound } from "../errors";
import { requireConfirm } from "../env/production-guard";
import type { JobDef } from "../jobs/define";
import { backups } from "./backup.sql";
import { backupTargets, type BackupRow } from "./backup-job";
import { cloneJob, type CloneJobParams } from "./clone-job";
import { startCrossHostClone } from "./clone-transfer/start";
import { parseRulesOverride } from "./anonymize-rules";
import { newReplaceToken } from "./replace";
import type { ReplaceParams } from "./replace-steps";
import { readableSource, restoreJob, type RestoreJobParams } from "./restore-job";
import { backupTransfer, transferKind } from "./transfer";
import { CloneRequest, RestoreRequest, type DbOperationPlan, type DbOperationResponse } from "./schema";
import { requireCreated } from "../env/guards";

function assertReplaceable(env: Environment, role: string): void {
  requireCreated(env, "it must be active or stopped", `${role} environment`);
}

function findBackup(deps: CoordinatorDeps, source: Environment, ref: string): BackupRow {
  if (ref === "latest") {
    const row = deps.db
      .select()
      .from(backups)
      .where(and(eq(backups.envId, source.id), eq(backups.status, "completed")))
      .orderBy(desc(backups.createdAt), desc(backups.id))
      .get();
    if (!row)
      throw new NotFound(
        `environment ${source.slug} has no completed backup (make one: odooops db backup ${source.slug})`,
      );
    return row;
  }
  const row = deps.db.select().from(backups).where(eq(backups.id, ref)).get();
  if (!row) throw new NotFound(`no backup ${ref} (see: odooops db backups ${source.slug})`);
  if (row.envId !== source.id)
    throw new Invalid(`backup ${ref} is not a backup of ${source.slug} (see: odooops db backups ${source.slug})`);
  return row;
}

interface Policy {
  anonymize: boolean;
  neutralize: boolean;
  rebase: boolean;
  preBackup: boolean;
}

/**
 * Another env's data in a non-production env is always neutralized (it must not send mail or run
 * crons as its source) and anonymized by default when it is production's; production is never
 * anonymized; whatever lands in production is backed up first.
 */
function policy(source: Environment, target: Environment, anonymize: boolean | undefined): Policy {
  const crossEnv = source.id !== target.id && !successor(source, target);
  const toProduction = target.tier === "production";
  const wantAnonymize = anonymize ?? (crossEnv && source.tier === "production" && !toProduction);
  if (wantAnonymize && toProduction) throw new Invalid(`refusing to anonymize production environment ${target.slug}`);
  return { anonymize: wantAnonymize, neutralize: crossEnv && !toProduction, rebase: crossEnv, preBackup: toProduction };
}

/**
 * Whose backup: `from` (live, else the env of that name destroyed last), or the target itself.
 * A backup id of a destroyed env names its env directly, so `db restore shop --backup ID` in a
 * new env called shop restores the old shop's backup (a destroyed env is a source, never a
 * target; its backups are kept backups.keepDestroyedDays).
 */
function restoreSource(
  deps: CoordinatorDeps,
  target: Environment,
  req: { backup: string; from?: string },
): Environment {
  if (req.backup !== "latest") {
    const row = deps.db.select({ envId: backups.envId }).from(backups).where(eq(backups.id, req.backup)).get();
    const owner = row ? loadEnvById(deps.db, row.envId) : null;
    const named =
      owner !== null &&
      (req.from === undefined ? owner.slug === target.slug : owner.slug === req.from || owner.name === req.from);
    if (owner?.status === "destroyed" && named) return owner;
  }
  return req.from ? findEnvOrDestroyed(deps.db, req.from) : target;
}

/** The target took a destroyed env's place (same slug): its own data coming back, not another env's. */
function successor(source: Environment, target: Environment): boolean {
  return source.status === "destroyed" && source.slug === target.slug;
}

function baseParams(
  deps: CoordinatorDeps,
  source: Environment,
  target: Environment,
  p: Policy,
  keepOld: boolean,
): ReplaceParams {
  // A backup first needs somewhere to put it: refuse now rather than fail the job.
  if (p.preBackup) backupTargets(deps);
  return {
    envId: target.id,
    slug: target.slug,
    sourceEnvId: source.id,
    sourceSlug: source.slug,
    token: newReplaceToken(),
    keepOld,
    anonymize: p.anonymize,
    neutralize: p.neutralize,
    rebase: p.rebase,
    preBackupId: p.preBackup ? Bun.randomUUIDv7() : null,
  };
}

function stepsOf<P>(def: JobDef<P>, params: P, deps: CoordinatorDeps): string[] {
  return def.steps.filter((s) => !s.when || s.when(params, deps)).map((s) => s.title);
}

function planView(
  deps: CoordinatorDeps,
  operation: DbOperationPlan["operation"],
  source: Environment,
  target: Environment,
  params: ReplaceParams,
  extra: Pick<DbOperationPlan, "backup" | "method" | "steps">,
): DbOperationPlan {
  return {
    operation,
    target: {
      slug: target.slug,
      tier: target.tier,
      status: target.status,
      url: envUrl(target, deps.config),
      dbName: target.dbName,
    },
    source: { slug: source.slug, tier: source.tier },
    preBackup: params.preBackupId !== null,
    anonymize: params.anonymize,
    neutralize: params.neutralize,
    keepOld: params.keepOld,
    ...extra,
  };
}

export function startDbRestore(
  deps: CoordinatorDeps,
  targetName: string,
  input: RestoreRequest,
  actor: string,
): DbOperationResponse {
  const req = RestoreRequest.parse(input);
  const target = findEnv(deps.db, targetName);
  const source = restoreSource(deps, target, req);
  assertReplaceable(target, "target");
  const row = findBackup(deps, source, req.backup);
  const from = deps.fleet.envHost(source);
  const to = deps.fleet.envHost(target);
  const transfer = backupTransfer(row, { from: from.id, to: to.id, fromName: from.name, toName: to.name });
  const where = transfer ? transferKind(transfer) : readableSource(deps.config, row).kind;
  if (source.id !== target.id && !successor(source, target) && target.tier === "production" && !req.forceProduction) {
    throw new Invalid(
      `refusing to restore ${source.slug}'s backup into production environment ${target.slug}: pass --yes --force-production (API: forceProduction) if that is really what you want`,
    );
  }
  const p = policy(source, target, req.anonymize);
  // Anonymizing reads the source's live database (its values are what the check looks for): on
  // another host it is out of reach of the restoring host.
  if (transfer && p.anonymize)
    throw new Invalid(
      `${source.slug}'s backup would be anonymized into ${target.slug}, and anonymizing needs ${source.slug}'s own database, on host ${from.name}, not ${to.name}; pass --no-anonymize (API: anonymize: false) to restore it as it is`,
    );
  if (!req.dryRun) requireConfirm(target, req.confirm, "restore into");
  const params: RestoreJobParams = {
    ...baseParams(deps, source, target, p, req.keepOld),
    backupId: row.id,
    ...(transfer ? { transfer } : {}),
  };
  const plan = planView(deps, "restore", source, target, params, {
    backup: { id: row.id, kind: row.kind, createdAt: row.createdAt, sizeBytes: row.sizeBytes, from: where },
    method: null,
    steps: stepsOf(restoreJob, params, deps),
  });
  if (req.dryRun) return { dryRun: true, plan, job: null };
  const job = deps.jobs.enqueue(restoreJob, params, actor);
  deps.audit.record({
    actor,
    action: "db.restore",
    target: target.slug,
    details: {
      from: source.slug,
      backup: row.id,
      anonymize: params.anonymize,
      neutralize: params.neutralize,
      preBackup: params.preBackupId,
      ...(transfer ? { fromHost: from.name, toHost: to.name, path: transferKind(transfer) } : {}),
      job: job.id,
    },
  });
  return { dryRun: false, plan, job };
}

export function startDbClone(
  deps: CoordinatorDeps,
  targetName: string,
  input: CloneRequest,
  actor: string,
): DbOperationResponse {
  const req = CloneRequest.parse(input);
  const target = findEnv(deps.db, targetName);
  const source = findEnv(deps.db, req.from);
  if (source.id === target.id)
    throw new Invalid(
      `cannot clone ${source.slug} onto itself; to go back in time use: odooops db restore ${source.slug} --backup ID`,
    );
  assertReplaceable(source, "source");
  assertReplaceable(target, "target");
  // No host id: the coordinator's own host (created before the fleet).
  const local = deps.fleet.localHostId;
  const crossHost = (source.hostId ?? local) !== (target.hostId ?? local);
  if (target.tier === "production" && !req.forceProduction) {
    throw new Invalid(
      `refusing to clone ${source.slug} into production environment ${target.slug}: pass --yes --force-production (API: forceProduction) if that is really what you want`,
    );
  }
  if (!req.dryRun) requireConfirm(target, req.confirm, "clone into");
  const params: CloneJobParams = {
    ...baseParams(deps, source, target, policy(source, target, req.anonymize), req.keepOld),
    method: req.method,
  };
  if (req.rules) {
    if (!params.anonymize)
      throw new Invalid(
        `--rules applies to an anonymized copy, and this clone of ${source.slug} into ${target.slug} is not anonymized (pass --anonymize)`,
      );
    // Checked here, before anything is queued: a bad file is an error with its own lines, and nothing is created.
    parseRulesOverride(req.rules.text, req.rules.file);
    params.rules = req.rules;
  }
  const view = (steps: string[]) =>
    planView(deps, "clone", source, target, params, { backup: null, method: req.method, steps });
  // Copied, checked and uploaded on the source's host, restored on the target's (clone-transfer/).
  if (crossHost) return startCrossHostClone(deps, { source, target, params, dryRun: req.dryRun, actor, plan: view });
  const plan = view(stepsOf(cloneJob, params, deps));
  if (req.dryRun) return { dryRun: true, plan, job: null };
  const job = deps.jobs.enqueue(cloneJob, params, actor);
  deps.audit.record({
    actor,
    action: "db.clone",
    target: target.slug,
    details: {
      from: source.slug,
      method: req.method,
      rules: req.rules?.file ?? null,
      anonymize: params.anonymize,
      neutralize: params.neutralize,
      preBackup: params.preBackupId,
      job: job.id,
    },
  });
  return { dryRun: false, plan, job };
}
