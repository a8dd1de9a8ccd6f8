/**
 * `odooops report`: the service levels of the product card's "Production Ready" criteria over a
 * window — availability per env against 99.5 %, deployment success rate against 98 %, p95 deploy
 * time, backup success rate. `buildReport` is pure (facts in, report out); `serviceReport`
 * gathers the facts.
 */
import { ne } from "drizzle-orm";
import { backupOutcomesSince } from "../db/backup-stats";
import { type DeploymentOutcome, deploymentOutcomesSince } from "../deploy/stats";
import { environments } from "../env/env.sql";
import type { Deps } from "../deps";
import { type EnvUptime, uptimeSince } from "./uptime";

export const AVAILABILITY_GOAL = 99.5;
export const DEPLOY_SUCCESS_GOAL = 98;

export interface ReportEnv {
  env: string;
  tier: string;
  status: string;
  probes: number;
  failures: number;
  /** Percent of probes answered; null: never probed in the window. */
  availability: number | null;
  /** null: nothing to judge. */
  met: boolean | null;
  lastFailure: string | null;
  deploys: { succeeded: number; failed: number };
  backups: { completed: number; failed: number };
}

export interface ServiceReport {
  since: string;
  until: string;
  goals: { availability: number; deploySuccess: number };
  envs: ReportEnv[];
  /** Over production envs' probes together. */
  production: { probes: number; failures: number; availability: number | null; met: boolean | null };
  deployments: {
    succeeded: number;
    failed: number;
    successRate: number | null;
    met: boolean | null;
    p95Seconds: number | null;
  };
  backups: { completed: number; failed: number; successRate: number | null };
}

interface Facts {
  since: string;
  until: string;
  envs: { id: string; slug: string; tier: string; status: string }[];
  uptime: EnvUptime[];
  deployments: DeploymentOutcome[];
  backups: { envId: string; completed: number; failed: number }[];
}

const percent = (good: number, all: number): number | null =>
  all === 0 ? null : Math.round((good / all) * 100_000) / 1000;

/** Nearest-rank p95 of durations in seconds. */
export function p95(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(0.95 * sorted.length) - 1] ?? null;
}

export function buildReport(f: Facts): ServiceReport {
  const up = new Map(f.uptime.map((u) => [u.envId, u]));
  const backupsOf = new Map(f.backups.map((b) => [b.envId, b]));
  const envs = f.envs
    .map((e): ReportEnv => {
      const u = up.get(e.id);
      const probes = u?.probes ?? 0;
      const failures = u?.failures ?? 0;
      const availability = percent(probes - failures, probes);
      const mine = f.deployments.filter((d) => d.envId === e.id);
      const b = backupsOf.get(e.id);
      return {
        env: e.slug,
        tier: e.tier,
        status: e.status,
        probes,
        failures,
        availability,
        met: availability === null ? null : availability >= AVAILABILITY_GOAL,
        lastFailure: u?.lastFailure ?? null,
        deploys: {
          succeeded: mine.filter((d) => d.status === "success").length,
          failed: mine.filter((d) => d.status === "failed").length,
        },
        backups: { completed: b?.completed ?? 0, failed: b?.failed ?? 0 },
      };
    })
    // Envs with nothing in the window (created after it, never probed, no deploy or backup) say nothing.
    .filter((e) => e.probes + e.deploys.succeeded + e.deploys.failed + e.backups.completed + e.backups.failed > 0);

  const prod = envs.filter((e) => e.tier === "production");
  const prodProbes = prod.reduce((n, e) => n + e.probes, 0);
  const prodFailures = prod.reduce((n, e) => n + e.failures, 0);
  const prodAvailability = percent(prodProbes - prodFailures, prodProbes);

  const succeeded = f.deployments.filter((d) => d.status === "success");
  const deployFailed = f.deployments.length - succeeded.length;
  const successRate = percent(succeeded.length, f.deployments.length);
  const completed = f.backups.reduce((n, b) => n + b.completed, 0);
  const backupFailed = f.backups.reduce((n, b) => n + b.failed, 0);

  return {
    since: f.since,
    until: f.until,
    goals: { availability: AVAILABILITY_GOAL, deploySuccess: DEPLOY_SUCCESS_GOAL },
    envs,
    production: {
      probes: prodProbes,
      failures: prodFailures,
      availability: prodAvailability,
      met: prodAvailability === null ? null : prodAvailability >= AVAILABILITY_GOAL,
    },
    deployments: {
      succeeded: succeeded.length,
      failed: deployFailed,
      successRate,
      met: successRate === null ? null : successRate >= DEPLOY_SUCCESS_GOAL,
      p95Seconds: p95(succeeded.map((d) => (Date.parse(d.finishedAt) - Date.parse(d.createdAt)) / 1000)),
    },
    backups: { completed, failed: backupFailed, successRate: percent(completed, completed + backupFailed) },
  };
}

export function serviceReport(deps: Pick<Deps, "db">, since: string, now = new Date()): ServiceReport {
  const envs = deps.db
    .select({ id: environments.id, slug: environments.slug, tier: environments.tier, status: environments.status })
    .from(environments)
    .where(ne(environments.status, "destroyed"))
    .orderBy(environments.slug)
    .all();
  return buildReport({
    since,
    until: now.toISOString(),
    envs,
    uptime: uptimeSince(deps, new Date(since)),
    deployments: deploymentOutcomesSince(deps.db, since),
    backups: backupOutcomesSince(deps.db, since),
  });
}
