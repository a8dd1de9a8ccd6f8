/** How the daemon logs in to an env's database as the env's own role (see host/postgres/tenant.ts). */
import type { Deps } from "../deps";
import { tenantHost, type TenantLogin } from "../host/postgres/tenant";
import type { DbLogin } from "./odoo-conf";
import type { Environment } from "./env.sql";

/** The env's role into `database` (default: the env's database; a copy it will own otherwise). */
export function envDbLogin(
  deps: Pick<Deps, "config" | "box">,
  env: Pick<Environment, "dbName" | "dbUser" | "dbPasswordEnc">,
  database = env.dbName,
): TenantLogin {
  return { ...tenantServer(deps), user: env.dbUser, password: deps.box.open(env.dbPasswordEnc), database };
}

/** A throwaway role's login (tests, rehearsals) into its own database. */
export function scratchDbLogin(deps: Pick<Deps, "config">, login: DbLogin): TenantLogin {
  return { ...tenantServer(deps), user: login.user, password: login.password, database: login.name };
}

function tenantServer(deps: Pick<Deps, "config">): { host: string; port: number } {
  return { host: tenantHost(deps.config.postgres), port: deps.config.postgres.port };
}
