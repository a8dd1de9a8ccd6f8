import { and, asc, eq, ne, type SQL } from "drizzle-orm";
import type { Config } from "../config/schema";
import { hosts } from "../fleet/fleet.sql";
import type { Db } from "../state/db";
import { type Environment, environments } from "./env.sql";
import { moveNote, movesUnderWay } from "./moving";
import type { EnvSummary } from "./schema";

/**
 * The env's address: https when ACME covers its tier and HTTPS was not given up on (decided from
 * the row alone: listing 1,000 envs must not read 1,000 certificate dirs).
 */
export function envUrl(
  env: Pick<Environment, "domain"> & Partial<Pick<Environment, "tier" | "httpFallbackReason">>,
  config: Config,
): string {
  const tls =
    config.acme.enabled && env.tier !== undefined && config.acme.tiers.includes(env.tier) && !env.httpFallbackReason;
  if (tls) return `https://${env.domain}${config.nginx.httpsPort === 443 ? "" : `:${config.nginx.httpsPort}`}`;
  return `http://${env.domain}${config.nginx.httpPort === 80 ? "" : `:${config.nginx.httpPort}`}`;
}

type SummaryFields = Pick<
  Environment,
  | "id"
  | "name"
  | "slug"
  | "tier"
  | "status"
  | "statusReason"
  | "httpFallbackReason"
  | "branch"
  | "domain"
  | "odooImage"
  | "createdBy"
  | "createdAt"
  | "ttlExpiresAt"
> & { hostName: string | null; move: string | null };

/** Only the columns a summary shows: listing 1,000 envs must not read and map every column. */
const summaryColumns = {
  id: environments.id,
  name: environments.name,
  slug: environments.slug,
  tier: environments.tier,
  status: environments.status,
  statusReason: environments.statusReason,
  httpFallbackReason: environments.httpFallbackReason,
  branch: environments.branch,
  domain: environments.domain,
  odooImage: environments.odooImage,
  createdBy: environments.createdBy,
  createdAt: environments.createdAt,
  ttlExpiresAt: environments.ttlExpiresAt,
  movedFromHostId: environments.movedFromHostId,
  hostName: hosts.name,
};

/** The name of the host an env was placed on (null: not placed, the coordinator's own). */
export function hostNameOf(db: Db, hostId: string | null): string | null {
  if (hostId === null) return null;
  return db.select({ name: hosts.name }).from(hosts).where(eq(hosts.id, hostId)).get()?.name ?? null;
}

/** The env's move (src/env/moving.ts); `underWay`: read once for a whole list. */
export function envMove(
  db: Db,
  env: Pick<Environment, "id" | "movedFromHostId">,
  underWay = movesUnderWay(db),
): string | null {
  return moveNote(env.id, hostNameOf(db, env.movedFromHostId), underWay);
}

export function toSummary(env: SummaryFields, config: Config): EnvSummary {
  return {
    id: env.id,
    name: env.name,
    slug: env.slug,
    tier: env.tier,
    status: env.status,
    statusReason: env.statusReason,
    branch: env.branch,
    url: envUrl(env, config),
    odooImage: env.odooImage,
    createdBy: env.createdBy,
    createdAt: env.createdAt,
    expiresAt: env.ttlExpiresAt,
    host: env.hostName,
    move: env.move,
  };
}

export function listEnvironments(
  db: Db,
  config: Config,
  filter: { tier?: Environment["tier"]; status?: Environment["status"]; includeDestroyed?: boolean },
): EnvSummary[] {
  const where: SQL[] = [];
  if (filter.tier) where.push(eq(environments.tier, filter.tier));
  if (filter.status) where.push(eq(environments.status, filter.status));
  else if (!filter.includeDestroyed) where.push(ne(environments.status, "destroyed"));
  const rows = db
    .select(summaryColumns)
    .from(environments)
    .leftJoin(hosts, eq(environments.hostId, hosts.id))
    .where(and(...where))
    .orderBy(asc(environments.name))
    .all();
  const underWay = movesUnderWay(db);
  return rows.map((e) => toSummary({ ...e, move: envMove(db, e, underWay) }, config));
}
