/**
 * The one way odooops opens a session inside a tenant (env-owned) database: a real login as the
 * env's own role, never the admin. Everything in such a database (views, functions, triggers,
 * a `postgres` schema shadowing `public`) is the tenant's code; run by the admin it would run
 * as the superuser (COPY … TO PROGRAM = a shell on the host). As the env role it runs with the
 * rights the tenant already has. Not SET ROLE from an admin session: tenant code can RESET ROLE.
 *
 * Every session also pins `search_path = pg_catalog, pg_temp` in the startup packet (it beats
 * the per-role and per-database settings the tenant controls), and the queries name
 * `public.<table>`, so what odooops reads is the real table, not a look-alike.
 */
import { SQL } from "bun";
import { Conflict, Invalid } from "../../errors";
import { Secrets } from "../../log";
import { assertIdent } from "./quote";

export const TENANT_SEARCH_PATH = "pg_catalog, pg_temp";

/** A login as an env's role into its database. */
export interface TenantLogin {
  /** Hostname/IP, or a unix socket directory (starts with "/"). */
  host: string;
  port: number;
  /** The env's role: it owns the database and everything odooops reads or changes in it. */
  user: string;
  password: string;
  database: string;
}

/**
 * Where the daemon logs in as an env role: `tenantHost` when set, else the admin's host, except
 * that a unix socket becomes 127.0.0.1 — Debian's pg_hba gives sockets `peer` auth, which no
 * env role can pass, and loopback `scram-sha-256`.
 */
export function tenantHost(cfg: { host: string; tenantHost?: string }): string {
  if (cfg.tenantHost) return cfg.tenantHost;
  return cfg.host.startsWith("/") ? "127.0.0.1" : cfg.host;
}

function open(login: TenantLogin): SQL {
  Secrets.add(login.password);
  const where = login.host.startsWith("/") ? { path: login.host } : { hostname: login.host };
  return new SQL({
    ...where,
    port: login.port,
    username: assertIdent(login.user, "role"),
    password: login.password,
    database: assertIdent(login.database, "database"),
    connection: { search_path: TENANT_SEARCH_PATH },
    max: 2,
    idleTimeout: 30,
    connectionTimeout: 10,
  });
}

/**
 * Refuses a session that is not what the caller believes it is: another user (a misconfigured
 * login), a superuser role (then the whole point is lost), or a search_path that did not stick.
 */
async function assertTenantSession(sql: SQL, login: TenantLogin): Promise<void> {
  const [me] = await sql<{ user: string; super: boolean; path: string }[]>`
    SELECT current_user AS user, r.rolsuper AS super, current_setting('search_path') AS path
      FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`;
  if (me?.user !== login.user)
    throw new Invalid(`tenant session for ${login.database} runs as ${me?.user ?? "?"}, not ${login.user}`);
  if (me.super)
    throw new Conflict(
      `role ${login.user} of database ${login.database} is a superuser; odooops will not open tenant sessions with it`,
    );
  if (me.path !== TENANT_SEARCH_PATH)
    throw new Invalid(
      `tenant session for ${login.database}: search_path is ${me.path}, expected ${TENANT_SEARCH_PATH}`,
    );
}

/** Runs `fn` in a checked tenant session (see the file comment) and closes it. */
export async function withTenant<T>(login: TenantLogin, fn: (sql: SQL) => Promise<T>): Promise<T> {
  const sql = open(login);
  try {
    await assertTenantSession(sql, login);
    return await fn(sql);
  } finally {
    await sql.close();
  }
}

/** The tables of `public` odooops may read or change: ordinary or partitioned, owned by the session's role. */
export async function ownedPublicTables(sql: SQL): Promise<string[]> {
  const rows = await sql<{ t: string }[]>`
    SELECT c.relname AS t FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
     ORDER BY c.relname`;
  return rows.map((r) => r.t);
}

/**
 * Whether `public.<table>` exists as a table of the session's role. Absent: false. Present but a
 * view, a foreign table, or someone else's: Invalid — a database that disguises one of Odoo's
 * tables is refused, not read.
 */
export async function hasOwnedTable(sql: SQL, table: string): Promise<boolean> {
  const [row] = await sql<{ kind: string; owner: string; mine: boolean }[]>`
    SELECT c.relkind::text AS kind, pg_catalog.pg_get_userbyid(c.relowner) AS owner, pg_catalog.pg_get_userbyid(c.relowner) = current_user AS mine
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relname = ${table}`;
  if (!row) return false;
  if ((row.kind !== "r" && row.kind !== "p") || !row.mine) {
    throw new Invalid(
      `public.${table} is not a table owned by the environment's role (relkind ${row.kind}, owner ${row.owner}); refusing to read it`,
    );
  }
  return true;
}
