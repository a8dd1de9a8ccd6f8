/**
 * Env expiry. Chosen: computed once at create from the project's `ttl_policies` for the tier, and
 * moved only by `env extend` — deploys do not push it back, so an expiry the sweep warned about
 * (or a user set) stays where it was put.
 */
import { AppError, Invalid } from "../errors";
import { Log } from "../log";
import { DEFAULT_POLICY } from "../policy/defaults";
import { projectPolicy } from "../policy/load";
import type { Policy } from "../policy/schema";
import { ttlMs } from "../policy/match";
import type { Db } from "../state/db";
import type { Environment } from "./env.sql";

const log = Log.create("ttl");
const TTL = /^(never|[1-9]\d{0,4}[hd])$/;

export function parseTtl(ttl: string): number | null {
  if (!TTL.test(ttl)) throw new Invalid(`${JSON.stringify(ttl)} is not a TTL: use e.g. 12h, 3d or never`);
  return ttlMs(ttl);
}

/** `from + ttl` as ISO-8601; null for `never`. */
export function expiryAfter(ttl: string, from: Date): string | null {
  const ms = parseTtl(ttl);
  return ms === null ? null : new Date(from.getTime() + ms).toISOString();
}

/** The expiry a new env of `tier` gets under its project's policy (no TTL in the policy = never). */
export function expiryAtCreate(db: Db, projectId: string, tier: Environment["tier"], from: Date): string | null {
  let policy: Policy;
  try {
    policy = projectPolicy(db, projectId);
  } catch (e) {
    // A stored policy that no longer parses must not block every create of the project.
    if (!(e instanceof AppError)) throw e;
    log.warn("project policy unreadable; server default TTLs apply", { project: projectId, error: e.message });
    policy = DEFAULT_POLICY;
  }
  const ttl = policy.ttl_policies[tier];
  return ttl ? expiryAfter(ttl, from) : null;
}
