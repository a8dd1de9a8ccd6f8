/**
 * Scheduled backups: one Schedule ticking every minute; each tick finds the tiers whose cron
 * pattern (`backups.schedules.<tier>`, UTC) came due since the previous tick and enqueues a
 * `scheduled` backup for every active env of those tiers — except an env whose backup job is
 * still queued or running (one backup per env at a time; a slow backup is not stacked up).
 * Runs missed while the daemon was down are not caught up: the next due time backs up.
 * Envs placed on an agent are left to that agent's own scheduler (src/env/placed-on-agent.ts).
 */
import { and, eq, inArray } from "drizzle-orm";
import { Cron } from "croner";
import type { CoordinatorDeps } from "../deps";
import type { Config } from "../config/schema";
import { TIERS, type Tier } from "../env/vocabulary";
import { environments } from "../env/env.sql";
import { activeJobs } from "../jobs/lookup";
import { Log } from "../log";
import type { Schedule } from "../jobs/schedule";
import { backupJob } from "./backup-job";
import { startDbBackup } from "./backups";
import { errorText } from "../errors";
import { placedOnAgent } from "../env/placed-on-agent";

const log = Log.create("backups");

/** The tiers with a schedule whose next run after `since` is at or before `now`. */
export function dueTiers(schedules: Config["backups"]["schedules"], since: Date, now: Date): Tier[] {
  return TIERS.filter((tier) => {
    const pattern = schedules[tier];
    if (pattern === "") return false;
    const next = new Cron(pattern, { paused: true, timezone: "UTC" }).nextRun(since);
    return next !== null && next.getTime() <= now.getTime();
  });
}

export interface ScheduledBackups {
  tiers: Tier[];
  /** Env slugs a backup was enqueued for. */
  enqueued: string[];
  /** Env slugs skipped because their backup job is still queued or running. */
  busy: string[];
  /** Env slugs a backup could not be enqueued for, with why. */
  failed: { env: string; error: string }[];
}

function backupJobActive(deps: CoordinatorDeps, envId: string): boolean {
  return activeJobs(deps.db, { kinds: [backupJob.kind] }).some((j) => j.params.envId === envId);
}

export function enqueueScheduledBackups(deps: CoordinatorDeps, tiers: Tier[]): ScheduledBackups {
  const out: ScheduledBackups = { tiers, enqueued: [], busy: [], failed: [] };
  if (tiers.length === 0) return out;
  const envs = deps.db
    .select({ id: environments.id, slug: environments.slug, hostId: environments.hostId })
    .from(environments)
    .where(and(eq(environments.status, "active"), inArray(environments.tier, tiers)))
    .all()
    .filter((e) => !placedOnAgent(e.hostId, deps.fleet.localHostId));
  for (const env of envs) {
    if (backupJobActive(deps, env.id)) {
      out.busy.push(env.slug);
      continue;
    }
    try {
      startDbBackup(deps, env.slug, "scheduler", "scheduled");
      out.enqueued.push(env.slug);
    } catch (e) {
      out.failed.push({ env: env.slug, error: errorText(e) });
    }
  }
  return out;
}

/** `now` is injectable so a test can move the clock and call `tick` directly. */
export function backupSchedule(opts: { now?: () => Date } = {}): Schedule {
  const clock = opts.now ?? (() => new Date());
  let last = clock();
  return {
    name: "backups",
    pattern: "0 * * * * *",
    tick(deps) {
      const now = clock();
      const tiers = dueTiers(deps.config.backups.schedules, last, now);
      last = now;
      const r = enqueueScheduledBackups(deps, tiers);
      if (tiers.length > 0)
        log.info("scheduled backups", {
          tiers: tiers.join(","),
          enqueued: r.enqueued.join(","),
          stillRunning: r.busy.join(","),
        });
      for (const f of r.failed) log.warn("scheduled backup not started", f);
    },
  };
}
