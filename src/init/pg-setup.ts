/**
 * init's PostgreSQL setup on a Debian cluster, run as the `postgres` OS user (peer auth on the
 * socket: the only way in on a stock host): odooops' own admin role (CREATEDB CREATEROLE, not a
 * superuser) with a generated password, used over TCP 127.0.0.1; listen_addresses covering the
 * address containers reach the host at; a loopback scram line in pg_hba.conf. Pure planners
 * here, the runs in ./pg-apply.ts.
 */
import type { Command } from "../exec/command";
import { assertIdent, quoteIdent, quoteLiteral } from "../host/postgres";
import { DEBIAN_SOCKET_DIR, type PgCluster } from "../host/postgres/cluster";

export const ADMIN_ROLE = "odooops";

/** psql as `postgres`, reading `script` from stdin; -At: bare rows, `|` between columns. */
export function psqlAsPostgres(c: PgCluster, script: string, redact: string[] = []): Command {
  return {
    argv: [
      "runuser",
      "-u",
      c.owner,
      "--",
      "psql",
      "-X",
      "-q",
      "-At",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      DEBIAN_SOCKET_DIR,
      "-p",
      String(c.port),
      "-d",
      "postgres",
      "-f",
      "-",
    ],
    stdin: script,
    redact,
    timeoutMs: 60_000,
  };
}

export interface ClusterState {
  listenAddresses: string;
  hbaFile: string;
  /** null: the role does not exist. */
  role: { superuser: boolean } | null;
}

export function stateScript(role: string): string {
  return `SELECT current_setting('listen_addresses') || '|' || current_setting('hba_file') || '|' || coalesce((SELECT rolsuper::text FROM pg_roles WHERE rolname = ${quoteLiteral(assertIdent(role, "role"))}), 'none');\n`;
}

export function parseState(stdout: string): ClusterState {
  const line = stdout.trim().split("\n").at(-1) ?? "";
  const parts = line.split("|");
  if (parts.length !== 3) throw new Error(`unexpected answer from psql: ${JSON.stringify(line)}`);
  const [listenAddresses, hbaFile, sup] = parts;
  return { listenAddresses, hbaFile, role: sup === "none" ? null : { superuser: sup === "true" } };
}

/**
 * Creates the role or sets its attributes (and its password when `verifier` is given), plus the
 * few rights doctor and pg_hba management read or call: settings (hba_file, listen_addresses),
 * pg_hba_file_rules (validation before a reload), pg_reload_conf, and ending sessions of env
 * roles (dropping a database).
 */
export function roleScript(role: string, exists: boolean, verifier: string | null): string {
  const r = quoteIdent(role, "role");
  const attrs = `LOGIN CREATEDB CREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS${verifier ? ` PASSWORD ${quoteLiteral(verifier)}` : ""}`;
  return [
    `${exists ? "ALTER" : "CREATE"} ROLE ${r} WITH ${attrs};`,
    `GRANT pg_read_all_settings, pg_signal_backend TO ${r};`,
    `GRANT SELECT ON pg_catalog.pg_hba_file_rules TO ${r};`,
    `GRANT EXECUTE ON FUNCTION pg_catalog.pg_hba_file_rules() TO ${r};`,
    `GRANT EXECUTE ON FUNCTION pg_catalog.pg_reload_conf() TO ${r};`,
    "",
  ].join("\n");
}

/** `ALTER SYSTEM` (postgresql.auto.conf): the distribution's postgresql.conf stays untouched. */
export function listenScript(value: string): string {
  return `ALTER SYSTEM SET listen_addresses = ${quoteLiteral(value)};\n`;
}

export const RELOAD_SCRIPT = "SELECT pg_reload_conf();\n";

/** listen_addresses with `add` appended where not yet covered; null when nothing is missing. */
export function mergeListen(current: string, add: string[]): string | null {
  const items = current
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.includes("*")) return null;
  const covered = (a: string) =>
    items.includes(a) ||
    (a === "127.0.0.1" && items.includes("localhost")) ||
    (items.includes("0.0.0.0") && !a.includes(":"));
  const missing = add.filter((a) => !covered(a));
  if (missing.length === 0) return null;
  return [...(items.length > 0 ? items : ["localhost"]), ...missing].join(",");
}

const LOOPBACK = /^host\s+(\S+)\s+(\S+)\s+127\.0\.0\.1\/32\s+(\S+)/;

/**
 * pg_hba.conf with Debian's stock `host all all 127.0.0.1/32 scram-sha-256` line when no earlier
 * loopback line for every role already allows a password login; null when the file needs no
 * change. The daemon's admin role and the env roles (tenant sessions) both log in there. The
 * first matching line wins in pg_hba, so a new line goes before the first rule.
 */
export function ensureLoopbackHba(text: string): string | null {
  const lines = text.split("\n");
  for (const raw of lines) {
    const m = LOOPBACK.exec(raw.trim());
    if (!m || m[1] !== "all" || m[2] !== "all") continue;
    if (m[3] === "scram-sha-256" || m[3] === "md5") return null;
    break;
  }
  const line = "host all all 127.0.0.1/32 scram-sha-256 # odooops init: the daemon and env roles log in over loopback";
  const first = lines.findIndex((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  const at = first < 0 ? lines.length : first;
  return [...lines.slice(0, at), line, ...lines.slice(at)].join("\n");
}
