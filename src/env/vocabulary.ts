/**
 * The environment vocabulary, said once: config, state, API schemas, policies and the CLI all
 * take their tier and status lists from here. No imports, so any layer may use it.
 */

/** Environment tiers, from the most disposable to production. */
export const TIERS = ["dev", "dev_ephemeral", "staging", "production"] as const;
export type Tier = (typeof TIERS)[number];

export const ENV_STATUSES = ["creating", "active", "stopped", "failed", "destroying", "destroyed"] as const;
export type EnvStatus = (typeof ENV_STATUSES)[number];

/** Statuses of an env that was created and not torn down: its database and files exist. */
export const CREATED_STATUSES = ["active", "stopped"] as const satisfies readonly EnvStatus[];

/** Whether an env in `status` has a database, files and a container to act on (active or stopped). */
export function isCreated(status: EnvStatus): boolean {
  return (CREATED_STATUSES as readonly EnvStatus[]).includes(status);
}
