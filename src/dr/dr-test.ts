/**
 * What the API, CLI and scheduler ask of DR tests: `startDrTests` picks each env's newest
 * restorable backup, records the test and queues its job (dr-test-job.ts); `drReports` lists the
 * results; `drTestSchedule` runs them for every production env (weekly by default).
 */
import { and, desc, eq, inArray } from "drizzle-orm";
import { backups } from "../db/backup.sql";
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

const log = Log.create("dr");

export interface StartedDrTest {
  env: string;
  drTestId: string;
  backupId: string;
  job: JobView;
}

export interface StartedDrTests {
  started: StartedDrTest[];
  /** Production envs not tested (all-envs mode only), with why. */
  skipped: { env: string; reason: string }[];
}

/** The newest completed backup this host can read (local copy or S3), or why there is none. */
function newestRestorable(deps: Pick<Deps, "db" | "config">, env: Environment): { id: string } | { none: string } {
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
      return { id: row.id };
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

function start(deps: CoordinatorDeps, env: Environment, backupId: string, actor: string): StartedDrTest {
  const drTestId = Bun.randomUUIDv7();
  const job = deps.jobs.enqueue(drTestJob, { envId: env.id, slug: env.slug, drTestId, backupId }, actor);
  insertDrTest(deps.db, { id: drTestId, envId: env.id, backupId, jobId: job.id });
  deps.audit.record({ actor, action: "dr.test", target: env.slug, details: { backup: backupId, job: job.id } });
  return { env: env.slug, drTestId, backupId, job };
}

/**
 * One env (any tier): refused with the reason when it cannot be tested (unknown, not created, no
 * restorable backup), nothing recorded. No env: every created production env, one job each; the
 * ones without a restorable backup are listed as skipped.
 */
export function startDrTests(deps: CoordinatorDeps, opts: { env?: string }, actor: string): StartedDrTests {
  if (opts.env !== undefined) {
    const env = findEnv(deps.db, opts.env);
    requireCreated(env, "only an active or stopped environment's backups are tested");
    const b = newestRestorable(deps, env);
    if ("none" in b) throw new Invalid(b.none);
    return { started: [start(deps, env, b.id, actor)], skipped: [] };
  }
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
    else out.started.push(start(deps, env, b.id, actor));
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
