/**
 * What the API, CLI and scheduler ask of DR tests: `startDrTests` picks each env's newest
 * restorable backup, records the test and queues its job (dr-test-job.ts); `drReports` lists the
 * results; `drTestSchedule` runs them for every production env (weekly by default).
 */
import { and, desc, eq, inArray } from "drizzle-orm";
import { backups } from "../db/backup.sql";
import type { BackupRow } from "../db/backup-job";
import { readableSource } from "../db/restore-job";
import type { CoordinatorDeps, Deps } from "../deps";
import { environments, type Environment } from "../env/env.sql";
import { requireCreated } from "../env/guards";
import { findEnv } from "../env/lookup";
import { CREATED_STATUSES } from "../env/vocabulary";
import { Invalid, errorText } from "../errors";
import type { Schedule } from "../jobs/schedule";
import type { JobView } from "../jobs/view";
import { Log } from "../log";
import { drTestJob } from "./dr-test-job";
import { insertDrTest, listDrTests, type DrTestWithEnv } from "./dr-test-records";
import { drTestHost, remoteDrTest } from "./test-placement";

const log = Log.create("dr");

export interface StartedDrTest {
  env: string;
  drTestId: string;
  backupId: string;
  /** The host it runs on, and why that is the env's own host when it is (test-host.ts). */
  host: string;
  hostReason: string | null;
  job: JobView;
}

export interface StartedDrTests {
  started: StartedDrTest[];
  /** Production envs not tested (all-envs mode only), with why. */
  skipped: { env: string; reason: string }[];
}

/** The newest completed backup this host can read (local copy or S3), or why there is none. */
function newestRestorable(deps: Pick<Deps, "db" | "config">, env: Environment): BackupRow | { none: string } {
  const rows = deps.db
    .select()
    .from(backups)
    .where(and(eq(backups.envId, env.id), eq(backups.status, "completed")))
    .orderBy(desc(backups.createdAt), desc(backups.id))
    .all();
  const errors: string[] = [];
  for (const row of rows) {
    try {
      readableSource(deps.config, row);
      return row;
    } catch (e) {
      errors.push(errorText(e));
    }
  }
  return {
    none:
      rows.length === 0
        ? `${env.slug} has no completed backup to test; make one first: odooops db backup ${env.slug}`
        : `none of ${env.slug}'s ${rows.length} completed backup(s) can be read here (${errors[0]})`,
  };
}

function start(deps: CoordinatorDeps, env: Environment, row: BackupRow, actor: string, host?: string): StartedDrTest {
  const where = drTestHost(deps, env, row, host);
  const drTestId = Bun.randomUUIDv7();
  const base = { envId: env.id, slug: env.slug, drTestId, backupId: row.id };
  const job =
    where.where === "other"
      ? deps.jobs.enqueue(drTestJob, { ...base, remote: remoteDrTest(env, row, where.image) }, actor, {
          hostId: where.hostId,
        })
      : deps.jobs.enqueue(drTestJob, base, actor);
  const hostReason = where.where === "own" ? where.reason : null;
  insertDrTest(deps.db, {
    id: drTestId,
    envId: env.id,
    backupId: row.id,
    jobId: job.id,
    hostId: where.hostId,
    hostReason,
  });
  deps.audit.record({
    actor,
    action: "dr.test",
    target: env.slug,
    details: { backup: row.id, job: job.id, host: where.name, ...(hostReason ? { hostReason } : {}) },
  });
  return { env: env.slug, drTestId, backupId: row.id, host: where.name, hostReason, job };
}

/**
 * One env (any tier): refused with the reason when it cannot be tested (unknown, not created, no
 * restorable backup, `host` that cannot run it), nothing recorded. No env: every created
 * production env, one job each; the ones without a restorable backup are listed as skipped. Each
 * runs on another host when one can (test-host.ts).
 */
export function startDrTests(
  deps: CoordinatorDeps,
  opts: { env?: string; host?: string },
  actor: string,
): StartedDrTests {
  if (opts.env !== undefined) {
    const env = findEnv(deps.db, opts.env);
    requireCreated(env, "only an active or stopped environment's backups are tested");
    const b = newestRestorable(deps, env);
    if ("none" in b) throw new Invalid(b.none);
    return { started: [start(deps, env, b, actor, opts.host)], skipped: [] };
  }
  if (opts.host !== undefined) throw new Invalid("dr test --host names the host of one environment's test: add --env");
  const envs = deps.db
    .select()
    .from(environments)
    .where(and(eq(environments.tier, "production"), inArray(environments.status, [...CREATED_STATUSES])))
    .orderBy(environments.slug)
    .all();
  const out: StartedDrTests = { started: [], skipped: [] };
  for (const env of envs) {
    const b = newestRestorable(deps, env);
    if ("none" in b) out.skipped.push({ env: env.slug, reason: b.none });
    else out.started.push(start(deps, env, b, actor));
  }
  return out;
}

/** Newest first since `since` (ISO); `env` narrows to one live env. */
export function drReports(deps: Pick<Deps, "db">, opts: { since: string; env?: string }): DrTestWithEnv[] {
  const envIds = opts.env !== undefined ? [findEnv(deps.db, opts.env).id] : undefined;
  return listDrTests(deps.db, { since: opts.since, envIds });
}

/** Every production env on the cron pattern `dr.testSchedule` (UTC). */
export function drTestSchedule(pattern: string): Schedule {
  return {
    name: "dr.test",
    pattern,
    tick(deps) {
      const r = startDrTests(deps, {}, "scheduler");
      log.info("scheduled DR tests", { started: r.started.map((s) => s.env).join(",") });
      for (const s of r.skipped) log.warn("DR test not started", s);
    },
  };
}
