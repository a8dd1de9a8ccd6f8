/**
 * An agent's scheduled backups (whose clock runs them: src/env/placed-on-agent.ts). The agent
 * keeps its envs backed up while the coordinator is down and reports the jobs and backups it made
 * when it is back (src/daemon/agent-local.ts).
 */
import type { EnvStatus, Tier } from "../env/vocabulary";

export interface ScheduledEnv {
  id: string;
  slug: string;
  tier: Tier;
  status: EnvStatus;
  hostId: string | null;
}

/**
 * The envs an agent backs up now: active envs placed on its host, of a tier that came due,
 * except those with a backup job still running here (one at a time; a slow one is not stacked).
 */
export function agentBackupPlan<E extends ScheduledEnv>(
  envs: E[],
  hostId: string,
  due: Tier[],
  busyEnvIds: ReadonlySet<string>,
): { backup: E[]; busy: string[] } {
  const mine = envs.filter((e) => e.hostId === hostId && e.status === "active" && due.includes(e.tier));
  return {
    backup: mine.filter((e) => !busyEnvIds.has(e.id)),
    busy: mine.filter((e) => busyEnvIds.has(e.id)).map((e) => e.slug),
  };
}
