/**
 * `odooops health check --all`: one verdict per environment from what a 3 a.m. operator asks
 * first — does it answer through nginx, how old is its newest backup, when does its certificate
 * expire, did its last deploy work, did its last DR test restore and boot — plus the host's disk. `judgeEnv` is pure (facts + clock in,
 * verdict out); `healthReport` gathers the facts.
 */
import { Cron } from "croner";
import { and, desc, eq, ne } from "drizzle-orm";
import { listCertificates } from "../certs/service";
import type { Config } from "../config/schema";
import { deployments } from "../deploy/deploy.sql";
import { backups } from "../db/backup.sql";
import { diskUse } from "../doctor/disk";
import { environments } from "../env/env.sql";
import { probeOnce } from "../env/health";
import { NotFound } from "../errors";
import type { Deps } from "../deps";
import { lastDrTests } from "./dr-test-records";

export type Level = "ok" | "warn" | "red";
export interface Finding {
  level: Level;
  text: string;
}

export interface EnvFacts {
  slug: string;
  tier: keyof Config["backups"]["schedules"];
  status: string;
  /** null: not probed (the env is not meant to be serving). */
  http: { ok: boolean; detail: string } | null;
  newestBackupAt: string | null;
  /** null: the tier gets no certificate. */
  cert: { status: string; daysLeft: number | null } | null;
  lastDeploy: { status: string; release: number } | null;
  /** The newest finished `dr test` of the env; null: never tested. */
  lastDrTest: { outcome: "passed" | "failed"; finishedAt: string } | null;
}

export interface EnvVerdict {
  env: string;
  tier: string;
  level: Level;
  http: Finding;
  backup: Finding;
  cert: Finding;
  deploy: Finding;
  dr: Finding;
}

const HOUR = 3_600_000;
const RANK: Record<Level, number> = { ok: 0, warn: 1, red: 2 };
export const worst = (levels: Level[]): Level => levels.reduce<Level>((a, b) => (RANK[b] > RANK[a] ? b : a), "ok");
/** A certificate this close to expiry is an outage in waiting: renewal (at acme.renewDays) has failed for weeks. */
const CERT_RED_DAYS = 7;
/** A production env's last passed DR test older than this is overdue (the weekly schedule plus a day, as the alert). */
const DR_TEST_MAX_AGE_MS = 8 * 24 * HOUR;

/**
 * How old the newest backup may be: two scheduled intervals plus an hour (one missed run is a
 * warning, two is red); null when the tier has no schedule (age is shown, never judged).
 */
export function backupMaxAgeMs(pattern: string, now: Date): number | null {
  if (pattern === "") return null;
  const cron = new Cron(pattern, { paused: true, timezone: "UTC" });
  const [a, b] = cron.nextRuns(2, now);
  cron.stop();
  return a && b ? 2 * (b.getTime() - a.getTime()) + HOUR : null;
}

function ago(ms: number): string {
  const h = ms / HOUR;
  return h < 1
    ? `${Math.max(0, Math.round(ms / 60_000))}m ago`
    : h < 48
      ? `${Math.round(h)}h ago`
      : `${Math.round(h / 24)}d ago`;
}

export function judgeEnv(f: EnvFacts, schedules: Config["backups"]["schedules"], now: Date): EnvVerdict {
  const http: Finding =
    f.status === "failed"
      ? { level: "red", text: "env failed" }
      : f.http === null
        ? { level: f.status === "stopped" ? "warn" : "ok", text: f.status }
        : f.http.ok
          ? { level: "ok", text: "200 pass" }
          : { level: "red", text: f.http.detail.slice(0, 80) };

  const maxAge = backupMaxAgeMs(schedules[f.tier], now);
  let backup: Finding;
  if (f.newestBackupAt === null) backup = { level: maxAge === null ? "ok" : "red", text: "none" };
  else {
    const age = now.getTime() - Date.parse(f.newestBackupAt);
    const over = maxAge !== null && age > maxAge;
    const late = maxAge !== null && age > maxAge / 2 + HOUR / 2;
    backup = {
      level: over ? "red" : late ? "warn" : "ok",
      text: `${ago(age)}${maxAge !== null && (over || late) ? ` (max ${ago(maxAge).replace(" ago", "")})` : ""}`,
    };
  }

  const cert: Finding =
    f.cert === null
      ? { level: "ok", text: "n/a" }
      : f.cert.status === "missing" || f.cert.status === "unreadable" || f.cert.status === "expired"
        ? { level: "red", text: f.cert.status }
        : f.cert.daysLeft !== null && f.cert.daysLeft < CERT_RED_DAYS
          ? { level: "red", text: `${f.cert.daysLeft}d left` }
          : { level: f.cert.status === "expiring" ? "warn" : "ok", text: `${f.cert.daysLeft ?? "?"}d left` };

  // A failed deploy leaves the previous release serving: worth a look, not an outage.
  const deploy: Finding =
    f.lastDeploy === null
      ? { level: "ok", text: "never" }
      : {
          level: f.lastDeploy.status === "failed" ? "warn" : "ok",
          text: `${f.lastDeploy.status} r${f.lastDeploy.release}`,
        };

  // A failed restore rehearsal means the backups may not bring the env back: red until one passes.
  const t = f.lastDrTest;
  const dr: Finding =
    t === null
      ? { level: f.tier === "production" ? "warn" : "ok", text: "never" }
      : t.outcome === "failed"
        ? { level: "red", text: `failed ${ago(now.getTime() - Date.parse(t.finishedAt))}` }
        : {
            level:
              f.tier === "production" && now.getTime() - Date.parse(t.finishedAt) > DR_TEST_MAX_AGE_MS ? "warn" : "ok",
            text: `passed ${ago(now.getTime() - Date.parse(t.finishedAt))}`,
          };

  return {
    env: f.slug,
    tier: f.tier,
    level: worst([http.level, backup.level, cert.level, deploy.level, dr.level]),
    http,
    backup,
    cert,
    deploy,
    dr,
  };
}

export interface HealthReport {
  level: Level;
  envs: EnvVerdict[];
  disk: { label: string; path: string; freeBytes: number; totalBytes: number; level: Level }[];
}

/** Envs meant to serve are probed; creating/destroying ones are not judged on HTTP. */
const PROBED = new Set(["active"]);

export async function healthReport(
  deps: Pick<Deps, "db" | "config" | "paths">,
  opts: { env?: string } = {},
  now: Date = new Date(),
): Promise<HealthReport> {
  const { db, config, paths } = deps;
  const envs = db
    .select()
    .from(environments)
    .where(ne(environments.status, "destroyed"))
    .orderBy(environments.slug)
    .all()
    .filter((e) => !opts.env || e.slug === opts.env || e.name === opts.env);
  if (opts.env && envs.length === 0) throw new NotFound(`no environment ${opts.env} (see: odooops env list)`);
  const certs = new Map(
    listCertificates(deps, now)
      .filter((c) => c.env !== null)
      .map((c) => [c.env, c]),
  );
  const nginx = `http://127.0.0.1:${config.nginx.httpPort}`;
  const drTests = lastDrTests(db);
  const verdicts = await Promise.all(
    envs.map(async (e) => {
      const newest = db
        .select({ at: backups.createdAt })
        .from(backups)
        .where(and(eq(backups.envId, e.id), eq(backups.status, "completed")))
        .orderBy(desc(backups.createdAt))
        .get();
      const deploy = db
        .select({ status: deployments.status, release: deployments.release })
        .from(deployments)
        .where(eq(deployments.envId, e.id))
        .orderBy(desc(deployments.release))
        .get();
      const cert = certs.get(e.slug);
      const dr = drTests.get(e.id)?.last;
      return judgeEnv(
        {
          slug: e.slug,
          tier: e.tier,
          status: e.status,
          http: PROBED.has(e.status) ? await probeOnce({ url: nginx, host: e.domain }) : null,
          newestBackupAt: newest?.at ?? null,
          cert: cert ? { status: cert.status, daysLeft: cert.daysLeft } : null,
          lastDeploy: deploy ?? null,
          lastDrTest:
            dr?.finishedAt && dr.outcome !== "running" ? { outcome: dr.outcome, finishedAt: dr.finishedAt } : null,
        },
        config.backups.schedules,
        now,
      );
    }),
  );
  const places: [string, string][] = [["data", paths.dataDir]];
  if (config.backups.local.enabled)
    places.push(["backups", config.backups.local.dir !== "" ? config.backups.local.dir : paths.backupsDir]);
  const seen = new Set<number>();
  const disk = places.flatMap(([label, path]) => {
    const u = diskUse(label, path);
    if (seen.has(u.dev)) return [];
    seen.add(u.dev);
    return [
      {
        label,
        path,
        freeBytes: u.free,
        totalBytes: u.total,
        level: (u.level === "fail" ? "red" : u.level === "warn" ? "warn" : "ok") as Level,
      },
    ];
  });
  return { level: worst([...verdicts.map((v) => v.level), ...disk.map((d) => d.level)]), envs: verdicts, disk };
}
