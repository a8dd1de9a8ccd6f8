/**
 * Whose clock runs an env's scheduled backups. Exactly one side does, so a backup never runs
 * twice: the coordinator for the envs it runs itself (standalone, or placed on the coordinator's
 * host), the env's agent for every env placed on an agent. The agent keeps its envs backed up
 * while the coordinator is down and reports the jobs and backups it made when it is back
 * (src/daemon/agent-local.ts).
 */
import type { EnvStatus, Tier } from "../env/vocabulary";

/** True when the env's own agent schedules its backups, so the coordinator must not. */
export function agentOwnsSchedule(envHostId: string | null, coordinatorHostId: string | null): boolean {
  return envHostId !== null && envHostId !== coordinatorHostId;
}

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
