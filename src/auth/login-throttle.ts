/**
 * Failed-login limits per client IP and per username, with exponential backoff: after `maxFailures`
 * failures a key must wait baseLockoutSec, doubling with each further failure up to maxLockoutSec.
 * Checked before the password is verified, so during a lockout the right password is refused too.
 * In memory on purpose (one coordinator process; a restart forgets), bounded in size.
 */
import type { Config } from "../config/schema";

export type ThrottleSettings = Config["api"]["loginThrottle"];

interface Entry {
  failures: number;
  lastFailureAt: number;
  lockedUntil: number;
}

/** Beyond this many keys per map the least recently failed ones are forgotten. */
const MAX_KEYS = 100_000;

export interface Throttled {
  retryAfterSec: number;
  by: "ip" | "user";
}

export class LoginThrottle {
  private readonly byIp = new Map<string, Entry>();
  private readonly byUser = new Map<string, Entry>();

  constructor(
    private readonly settings: ThrottleSettings,
    /** False only for the benchmark's unprotected baseline. */
    private readonly enabled = true,
  ) {}

  /** Null when a login attempt may go ahead. */
  check(ip: string | null, username: string): Throttled | null {
    if (!this.enabled) return null;
    const now = Date.now();
    const ipWait = waitMs(this.byIp.get(ipKey(ip)), now);
    const userWait = waitMs(this.byUser.get(userKey(username)), now);
    if (ipWait === 0 && userWait === 0) return null;
    return { retryAfterSec: Math.ceil(Math.max(ipWait, userWait) / 1000), by: ipWait >= userWait ? "ip" : "user" };
  }

  failed(ip: string | null, username: string): void {
    if (!this.enabled) return;
    this.bump(this.byIp, ipKey(ip), this.settings.maxFailuresPerIp);
    this.bump(this.byUser, userKey(username), this.settings.maxFailuresPerUser);
  }

  /** A correct password clears the user's count; the IP's stays (one valid account must not reset a spray). */
  succeeded(username: string): void {
    this.byUser.delete(userKey(username));
  }

  private bump(map: Map<string, Entry>, key: string, maxFailures: number): void {
    const now = Date.now();
    const prev = map.get(key);
    const fresh = !prev || now - prev.lastFailureAt > this.settings.forgetAfterSec * 1000;
    const failures = fresh ? 1 : prev.failures + 1;
    const lockSec =
      failures >= maxFailures
        ? Math.min(this.settings.maxLockoutSec, this.settings.baseLockoutSec * 2 ** (failures - maxFailures))
        : 0;
    // Re-inserted so the map's order is least recently failed first (the eviction order).
    map.delete(key);
    map.set(key, { failures, lastFailureAt: now, lockedUntil: now + lockSec * 1000 });
    if (map.size > MAX_KEYS) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
  }
}

function waitMs(entry: Entry | undefined, now: number): number {
  return entry && entry.lockedUntil > now ? entry.lockedUntil - now : 0;
}

const ipKey = (ip: string | null) => ip ?? "unknown";
const userKey = (username: string) => username.toLowerCase();
