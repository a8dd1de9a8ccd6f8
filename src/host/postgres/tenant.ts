/**
 * Connecting as an env's OWN role (issue #13): whatever runs inside a tenant database with
 * tenant-controlled content (an uploaded dump, a backup read back from S3, a copy of another
 * env) gets that role's rights and nothing more: a real login, never a superuser session with
 * `SET ROLE` (which `RESET ROLE` undoes).
 */
import type { PgTarget } from "./connect";

/** A role's own credentials (an env's role: `dbUser` and its sealed `dbPasswordEnc`). */
export interface RoleLogin {
  user: string;
  password: string;
}

/**
 * The admin connection's server, logged in as `login`. A unix socket directory is replaced by
 * 127.0.0.1 on the same port: local socket logins are usually `peer` (the OS user, root here,
 * is not the env's role), while PostgreSQL's stock pg_hba.conf admits every role from 127.0.0.1
 * with a password.
 */
export function tenantTarget(admin: Omit<PgTarget, "database">, login: RoleLogin, database?: string): PgTarget {
  return {
    host: admin.host.startsWith("/") ? "127.0.0.1" : admin.host,
    port: admin.port,
    user: login.user,
    password: login.password,
    ...(database !== undefined ? { database } : {}),
  };
}
