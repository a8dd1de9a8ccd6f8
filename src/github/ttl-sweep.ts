/**
 * The TTL sweep: an env whose expiry is less than 24 h away gets one warning (a PR comment for a
 * preview; a log line and an audit entry for every env), and an env past its expiry is destroyed.
 * Takes the clock as an argument so tests move time instead of waiting for it.
 */
import { and, isNotNull, notInArray } from "drizzle-orm";
import type { Schedule } from "../jobs/schedule";
import { notifyPreview, previewOfEnv } from "./previews";
import { Log } from "../log";
import { startEnvDestroy } from "../env/actions";
import type { CoordinatorDeps } from "../deps";
import { environments } from "../env/env.sql";
import { errorText } from "../errors";
import { markExpiryWarned } from "../env/state";

const log = Log.create("ttl");
export const TTL_ACTOR = "ttl-sweep";
export const WARN_BEFORE_MS = 24 * 3_600_000;

export interface TtlSweepResult {
  warned: string[];
  destroyed: string[];
  failed: { env: string; error: string }[];
}

export function ttlSweep(deps: CoordinatorDeps, at: Date): TtlSweepResult {
  const result: TtlSweepResult = { warned: [], destroyed: [], failed: [] };
  const expiring = deps.db
    .select()
    .from(environments)
    .where(and(isNotNull(environments.ttlExpiresAt), notInArray(environments.status, ["destroyed", "destroying"])))
    .all();
  for (const env of expiring) {
    const expiresAt = Date.parse(env.ttlExpiresAt!);
    try {
      if (expiresAt <= at.getTime()) {
        const job = startEnvDestroy(deps, env.slug, { keepDatabase: false }, TTL_ACTOR);
        deps.audit.record({
          actor: TTL_ACTOR,
          action: "env.expire",
          target: env.slug,
          details: { expiresAt: env.ttlExpiresAt, job: job.id },
        });
        log.info("expired environment destroy queued", { env: env.slug, expiresAt: env.ttlExpiresAt, job: job.id });
        result.destroyed.push(env.slug);
      } else if (expiresAt - at.getTime() <= WARN_BEFORE_MS && env.ttlWarnedAt === null) {
        warn(deps, env, at);
        result.warned.push(env.slug);
      }
    } catch (e) {
      result.failed.push({ env: env.slug, error: errorText(e) });
    }
  }
  if (result.failed.length > 0) log.warn("ttl sweep could not act on some environments", { failed: result.failed });
  return result;
}

function warn(deps: CoordinatorDeps, env: typeof environments.$inferSelect, at: Date): void {
  const text = `Environment ${env.slug} expires at ${env.ttlExpiresAt} and will then be destroyed with its database. Keep it longer: \`odooops env extend ${env.slug} --ttl 3d\`.`;
  const preview = previewOfEnv(deps, env.id);
  const commented = preview !== null && preview.closedAt === null && notifyPreview(deps, preview.id, `⏳ ${text}`);
  log.warn("environment expires within 24 h", { env: env.slug, expiresAt: env.ttlExpiresAt, prComment: commented });
  deps.audit.record({
    actor: TTL_ACTOR,
    action: "env.expiry-warning",
    target: env.slug,
    details: { expiresAt: env.ttlExpiresAt, prComment: commented },
  });
  markExpiryWarned(deps.db, env.id, at);
}

export function ttlSchedule(pattern: string, clock: { now(): Date } = { now: () => new Date() }): Schedule {
  return {
    name: "ttl.sweep",
    pattern,
    tick: (deps) => {
      ttlSweep(deps, clock.now());
    },
  };
}
