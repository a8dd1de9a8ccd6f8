/** Connections to PostgreSQL through Bun's built-in client. */
import { SQL } from "bun";
import { Secrets } from "../../log";

export interface PgTarget {
  /** Hostname/IP, or a unix socket directory (starts with "/"). */
  host: string;
  port: number;
  user: string;
  password: string;
  database?: string;
}

/** A small pool to `target`; the caller closes it (`await sql.close()`). */
export function pgConnect(target: PgTarget, connection?: Record<string, string>): SQL {
  Secrets.add(target.password);
  const where = target.host.startsWith("/") ? { path: target.host } : { hostname: target.host };
  return new SQL({
    ...where,
    port: target.port,
    username: target.user,
    password: target.password,
    database: target.database ?? "postgres",
    ...(connection ? { connection } : {}),
    max: 4,
    idleTimeout: 30,
    connectionTimeout: 10,
  });
}

/**
 * The admin connection odooops creates roles and databases with (`config.postgres`), always in
 * the `postgres` database. Env roles reach that database too (Odoo lists databases there) and,
 * before PostgreSQL 15, may create functions in its `public` schema: one overloading a catalog
 * function more exactly (e.g. `starts_with(name, text)`) would run as the admin. Only pg_catalog
 * is searched, so that cannot happen. `applicationName` tags the sessions (see copyApplicationName).
 */
export function pgAdmin(cfg: Omit<PgTarget, "database">, applicationName?: string): SQL {
  const connection = {
    search_path: "pg_catalog, pg_temp",
    ...(applicationName ? { application_name: applicationName } : {}),
  };
  return pgConnect({ host: cfg.host, port: cfg.port, user: cfg.user, password: cfg.password }, connection);
}
