/**
 * Jobs do not wait forever for a host that is gone: a queued job of a host offline longer than
 * `fleet.offlineJobTimeout` fails with the reason (the queue, src/jobs/queue.ts, does the write).
 * A running job is left to its lease: the agent may still be working and report back.
 */
import { isNull } from "drizzle-orm";
import type { Config } from "../config/schema";
import type { CoordinatorDeps } from "../deps";
import type { Schedule } from "../jobs/schedule";
import { Log } from "../log";
import { hosts } from "./fleet.sql";
import type { Db } from "../state/db";
import { hostById, hostStatus } from "./hosts";

const log = Log.create("fleet");

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `10m` → 600000 (the config checked the form: digits then s, m or h). */
export function durationMs(text: string): number {
  const unit = text.slice(-1) as keyof typeof UNIT_MS;
  return Number(text.slice(0, -1)) * UNIT_MS[unit];
}

/**
 * What a queued job of `hostId` waits for when that host is offline: "waiting for host H
 * (offline since T; fails at T+timeout)"; null when it is online, or is this coordinator.
 */
export function offlineWait(
  db: Db,
  config: Pick<Config, "fleet">,
  localHostId: string | null,
  hostId: string,
  at: Date,
): string | null {
  if (hostId === localHostId) return null;
  const host = hostById(db, hostId);
  if (!host) return null;
  const { offlineSince } = hostStatus(host, at, config.fleet.heartbeatSec);
  if (offlineSince === null) return null;
  const failsAt = new Date(Date.parse(offlineSince) + durationMs(config.fleet.offlineJobTimeout)).toISOString();
  return `waiting for host ${host.name} (offline since ${offlineSince}; fails at ${failsAt})`;
}

/** Fails the queued jobs of every host offline for longer than the timeout; one entry per host that had some. */
export function failJobsOfOfflineHosts(
  deps: Pick<CoordinatorDeps, "db" | "config" | "jobs" | "fleet">,
  at: Date,
): { host: string; failed: number }[] {
  const timeoutMs = durationMs(deps.config.fleet.offlineJobTimeout);
  const out: { host: string; failed: number }[] = [];
  for (const h of deps.db.select().from(hosts).where(isNull(hosts.removedAt)).all()) {
    // This coordinator's own jobs run in this process: its host is never "away".
    if (h.id === deps.fleet.localHostId) continue;
    const { offlineSince } = hostStatus(h, at, deps.config.fleet.heartbeatSec);
    if (offlineSince === null || at.getTime() - Date.parse(offlineSince) <= timeoutMs) continue;
    const failed = deps.jobs.queue.failQueuedOfHost(
      h.id,
      `host ${h.name} has been offline since ${offlineSince}; the job was not started`,
    );
    if (failed) out.push({ host: h.name, failed });
  }
  for (const r of out) log.warn("queued jobs of an offline host failed", r);
  return out;
}

/** Every 30 s: a job fails at most half a minute after its host's timeout. */
export function offlineJobsSchedule(opts: { now?: () => Date } = {}): Schedule {
  const now = opts.now ?? (() => new Date());
  return {
    name: "fleet.offline-jobs",
    pattern: "*/30 * * * * *",
    tick: (deps) => {
      failJobsOfOfflineHosts(deps, now());
    },
  };
}
