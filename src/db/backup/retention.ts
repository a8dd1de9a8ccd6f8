/**
 * Grandfather-father-son retention, as a pure function of the backups list and a clock.
 *
 * Calendar windows in UTC, counted back from `now` (the current period is the first one):
 *   daily:   the newest completed backup of each of the last `daily` days;
 *   weekly:  … of each of the last `weekly` ISO weeks (Monday to Sunday);
 *   monthly: … of each of the last `monthly` calendar months;
 *   last:    the `last` newest completed backups, whatever their date (default 0).
 * Always kept, whatever the policy: the newest completed backup, protected ids (a deployment's
 * rollback point), running backups, and backups dated after `now` (clock skew).
 * Failed backups are kept while inside the daily window or newer than the newest completed one
 * (their local copy may be the only recent one), then deleted. Expired ones are already gone.
 */

export interface RetentionPolicy {
  daily: number;
  weekly: number;
  monthly: number;
  last?: number;
}

export type BackupStatus = "running" | "completed" | "failed" | "expired";

export interface RetentionBackup {
  id: string;
  /** ISO-8601 or Date. */
  createdAt: string | Date;
  status: BackupStatus;
}

export type KeepReason =
  | "newest"
  | "protected"
  | "running"
  | "future"
  | "last"
  | "daily"
  | "weekly"
  | "monthly"
  | "failed-recent";

export interface RetentionDecision {
  id: string;
  keep: boolean;
  reasons: KeepReason[];
  /**
   * When the policy will let it go if nothing else changes (ISO); null while kept for a reason
   * without a date (newest, protected, running, future, last) or when not kept.
   */
  expiresAt: string | null;
}

const DAY = 86_400_000;

function dayStart(t: number): number {
  return Math.floor(t / DAY) * DAY;
}

/** Monday 00:00 UTC of t's ISO week. */
function weekStart(t: number): number {
  const d = dayStart(t);
  const dow = (new Date(d).getUTCDay() + 6) % 7; // Monday = 0
  return d - dow * DAY;
}

function monthIndex(t: number): number {
  const d = new Date(t);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

function monthStartFromIndex(i: number): number {
  return Date.UTC(Math.floor(i / 12), i % 12, 1);
}

interface Period {
  reason: "daily" | "weekly" | "monthly";
  count: number;
  /** Period key of a time and how many periods back from now it is. */
  key(t: number): number;
  age(key: number, nowKey: number): number;
  /** First instant at which a period `key` is outside a window of `count`. */
  end(key: number, count: number): number;
}

const PERIODS: Omit<Period, "count">[] = [
  { reason: "daily", key: dayStart, age: (k, n) => Math.round((n - k) / DAY), end: (k, c) => k + c * DAY },
  { reason: "weekly", key: weekStart, age: (k, n) => Math.round((n - k) / (7 * DAY)), end: (k, c) => k + c * 7 * DAY },
  { reason: "monthly", key: monthIndex, age: (k, n) => n - k, end: (k, c) => monthStartFromIndex(k + c) },
];

function time(b: RetentionBackup): number {
  const t = b.createdAt instanceof Date ? b.createdAt.getTime() : Date.parse(b.createdAt);
  if (Number.isNaN(t)) throw new Error(`backup ${b.id}: invalid createdAt ${String(b.createdAt)}`);
  return t;
}

export function explainRetention(
  backups: RetentionBackup[],
  policy: RetentionPolicy,
  now: Date,
  protectedIds: Iterable<string> = [],
): RetentionDecision[] {
  const nowT = now.getTime();
  const protectedSet = new Set(protectedIds);
  // Newest first; ties broken by id so the result never depends on input order.
  const sorted = [...backups].sort((a, b) => time(b) - time(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const reasons = new Map<string, Set<KeepReason>>(sorted.map((b) => [b.id, new Set<KeepReason>()]));
  const expiries = new Map<string, number[]>();
  const add = (id: string, r: KeepReason, expires?: number) => {
    reasons.get(id)?.add(r);
    if (expires !== undefined) expiries.set(id, [...(expiries.get(id) ?? []), expires]);
  };

  const good = sorted.filter((b) => b.status === "completed" && time(b) <= nowT);
  const newestGood = good[0];
  if (newestGood) add(newestGood.id, "newest");
  for (const b of good.slice(0, Math.max(0, policy.last ?? 0))) add(b.id, "last");

  for (const p of PERIODS) {
    const count = Math.max(0, policy[p.reason]);
    if (count === 0) continue;
    const nowKey = p.key(nowT);
    const seen = new Set<number>();
    for (const b of good) {
      const k = p.key(time(b));
      if (seen.has(k)) continue; // a newer backup already represents this period
      seen.add(k);
      if (p.age(k, nowKey) < count) add(b.id, p.reason, p.end(k, count));
    }
  }

  const dailyWindowStart = dayStart(nowT) - (Math.max(0, policy.daily) - 1) * DAY;
  for (const b of sorted) {
    const t = time(b);
    if (protectedSet.has(b.id)) add(b.id, "protected");
    if (b.status === "running") add(b.id, "running");
    if (t > nowT && b.status !== "expired") add(b.id, "future");
    if (b.status === "failed") {
      const afterNewestGood = !newestGood || t > time(newestGood);
      if (afterNewestGood || (policy.daily > 0 && t >= dailyWindowStart)) {
        add(b.id, "failed-recent", afterNewestGood ? undefined : dayStart(t) + policy.daily * DAY);
      }
    }
  }

  const undated: KeepReason[] = ["newest", "protected", "running", "future", "last"];
  return sorted.map((b) => {
    const rs = [...(reasons.get(b.id) ?? [])];
    const keep = b.status !== "expired" && rs.length > 0;
    const dated = expiries.get(b.id) ?? [];
    const expiresAt =
      keep && !rs.some((r) => undated.includes(r)) && dated.length > 0
        ? new Date(Math.max(...dated)).toISOString()
        : null;
    return { id: b.id, keep, reasons: rs, expiresAt };
  });
}

/** Ids to delete now, oldest first. Never the newest completed backup, never a protected id. */
export function planRetention(
  backups: RetentionBackup[],
  policy: RetentionPolicy,
  now: Date,
  protectedIds: Iterable<string> = [],
): string[] {
  const status = new Map(backups.map((b) => [b.id, b.status]));
  return explainRetention(backups, policy, now, protectedIds)
    .filter((d) => !d.keep && status.get(d.id) !== "expired")
    .map((d) => d.id)
    .reverse();
}
