/**
 * The Projects & environments page's rows: what `env list` shows plus the columns a person
 * scans for (host, serving commit, last deploy, newest backup, certificate days left). Reads
 * only, in a handful of grouped queries whatever the number of envs, never one query per env;
 * the rows are kept until the state changes (StateCache) and certificate days come from an
 * index of the certificate links (cert-expiry.ts): the page must stay fast at 100 envs.
 */
import { and, desc, eq, inArray, ne } from "drizzle-orm";
import type { CoordinatorDeps } from "../deps";
import { backups } from "../db/backup.sql";
import { deployments } from "../deploy/deploy.sql";
import { environments, projects } from "../env/env.sql";
import { envMove, toSummary } from "../env/list";
import { movesUnderWay } from "../env/moving";
import type { EnvSummary } from "../env/schema";
import { TIERS } from "../env/vocabulary";
import { hosts } from "../fleet/fleet.sql";
import { StateCache } from "../state/version";
import type { CertExpiry } from "./cert-expiry";

export interface EnvRow extends EnvSummary {
  servingCommit: string | null;
  lastDeploy: { status: string; at: string } | null;
  newestBackupAt: string | null;
  certDaysLeft: number | null;
}

export interface ProjectGroup {
  project: string;
  tiers: { tier: EnvSummary["tier"]; envs: EnvRow[] }[];
}

type Deps = Pick<CoordinatorDeps, "db" | "config">;

/** The page's rows for `deps`, rebuilt only when the state changed; certificate days are read fresh. */
export function overviewReader(deps: Deps, certs: CertExpiry): () => ProjectGroup[] {
  const cache = new StateCache<{ groups: ProjectGroup[]; domains: Map<EnvRow, string> }>(1);
  return () => {
    const { groups, domains } = cache.get(deps.db, "", () => overviewRows(deps));
    const now = new Date();
    for (const [row, domain] of domains) row.certDaysLeft = certs.daysLeft(domain, now);
    return groups;
  };
}

function overviewRows(deps: Deps): { groups: ProjectGroup[]; domains: Map<EnvRow, string> } {
  const { db } = deps;
  const rows = db
    .select({ env: environments, project: projects.name, host: hosts.name })
    .from(environments)
    .leftJoin(projects, eq(projects.id, environments.projectId))
    .leftJoin(hosts, eq(hosts.id, environments.hostId))
    .where(ne(environments.status, "destroyed"))
    .orderBy(environments.name)
    .all();
  const ids = rows.map((r) => r.env.id);
  const deploys = ids.length
    ? db
        .select({
          id: deployments.id,
          envId: deployments.envId,
          status: deployments.status,
          commit: deployments.commitSha,
          createdAt: deployments.createdAt,
          finishedAt: deployments.finishedAt,
        })
        .from(deployments)
        .where(inArray(deployments.envId, ids))
        .orderBy(desc(deployments.createdAt))
        .all()
    : [];
  const lastDeploy = new Map<string, (typeof deploys)[number]>();
  const byId = new Map(deploys.map((d) => [d.id, d]));
  for (const d of deploys) if (!lastDeploy.has(d.envId)) lastDeploy.set(d.envId, d);
  const newestBackup = new Map<string, string>();
  if (ids.length)
    for (const b of db
      .select({ envId: backups.envId, at: backups.finishedAt })
      .from(backups)
      .where(and(inArray(backups.envId, ids), eq(backups.status, "completed")))
      .orderBy(desc(backups.finishedAt))
      .all())
      if (b.at && !newestBackup.has(b.envId)) newestBackup.set(b.envId, b.at);
  const domains = new Map<EnvRow, string>();

  const groups = new Map<string, Map<EnvSummary["tier"], EnvRow[]>>();
  const underWay = movesUnderWay(db);
  for (const { env, project, host } of rows) {
    const last = lastDeploy.get(env.id);
    const serving = env.currentDeploymentId ? byId.get(env.currentDeploymentId) : undefined;
    const row: EnvRow = {
      ...toSummary({ ...env, hostName: host, move: envMove(db, env, underWay) }, deps.config),
      servingCommit: serving?.commit ?? null,
      lastDeploy: last ? { status: last.status, at: last.finishedAt ?? last.createdAt } : null,
      newestBackupAt: newestBackup.get(env.id) ?? null,
      certDaysLeft: null,
    };
    domains.set(row, env.domain);
    const name = project ?? "(no project)";
    const tiers = groups.get(name) ?? new Map<EnvSummary["tier"], EnvRow[]>();
    groups.set(name, tiers);
    tiers.set(env.tier, [...(tiers.get(env.tier) ?? []), row]);
  }
  const sorted = [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([project, tiers]) => ({
      project,
      // production first: the order a person reads a project in
      tiers: [...TIERS]
        .reverse()
        .filter((t) => tiers.has(t))
        .map((tier) => ({ tier, envs: tiers.get(tier) ?? [] })),
    }));
  return { groups: sorted, domains };
}
