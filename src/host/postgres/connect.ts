/** Connections to PostgreSQL through Bun's built-in client. */
import { SQL } from "bun";
import type { Config } from "../../config/schema";
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
export function pgConnect(target: PgTarget): SQL {
  Secrets.add(target.password);
  const where = target.host.startsWith("/") ? { path: target.host } : { hostname: target.host };
  return new SQL({
    ...where,
    port: target.port,
    username: target.user,
    password: target.password,
    database: target.database ?? "postgres",
    max: 4,
    idleTimeout: 30,
    connectionTimeout: 10,
  });
}

/** The admin connection odooops creates roles and databases with (`config.postgres`). */
export function pgAdmin(cfg: Config["postgres"]): SQL {
  return pgConnect({ host: cfg.host, port: cfg.port, user: cfg.user, password: cfg.password });
}
