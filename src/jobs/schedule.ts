/**
 * Periodic work as data: domains declare their schedules here, daemon/scheduler.ts runs them
 * (in jobs/, not daemon/: a domain imports no entry point).
 */
import type { CoordinatorDeps } from "../deps";

export interface Schedule {
  /** Shown in logs, e.g. "backups" or "certs.renew". */
  name: string;
  /** Croner pattern (5 or 6 fields), read in UTC. */
  pattern: string;
  /** Usually enqueues jobs; the work itself runs on an agent. */
  tick(deps: CoordinatorDeps): Promise<void> | void;
}
