/**
 * Whose clock runs an env's periodic work (scheduled backups, certificate renewals, uptime
 * probes). Exactly one side does, so nothing runs twice: the coordinator for the envs it runs
 * itself (standalone, or placed on the coordinator's host), the env's agent for every env placed
 * on an agent — which keeps doing it while the coordinator is down.
 */

/** True when the env runs on an agent, whose own clock does its periodic work. */
export function placedOnAgent(envHostId: string | null, coordinatorHostId: string | null): boolean {
  return envHostId !== null && envHostId !== coordinatorHostId;
}
