import { and, asc, eq, ne, type SQL } from "drizzle-orm";
import type { Config } from "../config/schema";
import type { Db } from "../state/db";
import { environments } from "./env.sql";
import type { EnvSummary } from "./schema";

export type EnvRow = typeof environments.$inferSelect;

export function envUrl(env: Pick<EnvRow, "domain">, config: Config): string {
  const port = config.nginx.httpPort === 80 ? "" : `:${config.nginx.httpPort}`;
  return `http://${env.domain}${port}`;
}

type SummaryFields = Pick<EnvRow, "id" | "name" | "slug" | "tier" | "status" | "statusReason" | "branch" | "domain" | "odooImage" | "createdBy" | "createdAt">;

/** Only the columns a summary shows: listing 1,000 envs must not read and map every column. */
const summaryColumns = {
  id: environments.id,
  name: environments.name,
  slug: environments.slug,
  tier: environments.tier,
  status: environments.status,
  statusReason: environments.statusReason,
  branch: environments.branch,
  domain: environments.domain,
  odooImage: environments.odooImage,
  createdBy: environments.createdBy,
  createdAt: environments.createdAt,
};

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
  };
}

export function listEnvironments(
  db: Db,
  config: Config,
  filter: { tier?: EnvRow["tier"]; status?: EnvRow["status"]; includeDestroyed?: boolean },
): EnvSummary[] {
  const where: SQL[] = [];
  if (filter.tier) where.push(eq(environments.tier, filter.tier));
  if (filter.status) where.push(eq(environments.status, filter.status));
  else if (!filter.includeDestroyed) where.push(ne(environments.status, "destroyed"));
  return db
    .select(summaryColumns)
    .from(environments)
    .where(and(...where))
    .orderBy(asc(environments.name))
    .all()
    .map((e) => toSummary(e, config));
}
