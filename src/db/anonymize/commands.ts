/**
 * The two ends of one anonymized table: psql reading `COPY (SELECT …) TO STDOUT` from the source
 * inside the copy's snapshot, psql writing `COPY public.t FROM STDIN` into the copy. Passwords
 * and session settings (the per-copy key, the dev password hash) travel in the environment
 * (PGPASSWORD, PGOPTIONS), never in argv, which `ps` shows and errors echo.
 */
import { join } from "node:path";
import type { Command } from "../../exec/command";
import { Invalid } from "../../errors";
import { TENANT_SEARCH_PATH } from "../../host/postgres/tenant";
import { assertIdent, quoteIdent } from "../../host/postgres/quote";
import type { PgAdmin } from "../backup/commands";

const DAY_MS = 24 * 3600_000;

/** What pg_export_snapshot() returns, e.g. 00000003-0000001B-1. */
const SNAPSHOT = /^[0-9A-F]{8}-[0-9A-F]{8}-[0-9]+$/;
/** PGOPTIONS splits on blanks and reads backslashes: settings are restricted to plain tokens. */
const SETTING_NAME = /^[a-z_]+(\.[a-z_]+)?$/;
const SETTING_VALUE = /^[A-Za-z0-9$./_,:=+-]+$/;

/** `secret` settings are also masked wherever the command is echoed. */
function psql(
  as: PgAdmin,
  db: string,
  secret: Record<string, string>,
  plain: Record<string, string>,
  app: string,
  pgBinDir?: string,
): Command {
  const options = Object.entries({ search_path: TENANT_SEARCH_PATH.replace(/ /g, ""), ...plain, ...secret }).map(
    ([k, v]) => {
      if (!SETTING_NAME.test(k) || !SETTING_VALUE.test(v))
        throw new Invalid(`session setting ${k} cannot be passed in PGOPTIONS`);
      return `-c ${k}=${v}`;
    },
  );
  return {
    argv: [
      pgBinDir ? join(pgBinDir, "psql") : "psql",
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      as.host,
      "-p",
      String(as.port),
      "-U",
      as.user,
      "--no-password",
      "-d",
      assertIdent(db, "database"),
    ],
    env: { PGPASSWORD: as.password, PGCONNECT_TIMEOUT: "15", PGAPPNAME: app, PGOPTIONS: options.join(" ") },
    redact: [as.password, ...Object.values(secret)],
    timeoutMs: DAY_MS,
  };
}

/** Rows of `select`, read-only, as of `snapshot` (held open by the copy's own session). */
export function copyOut(
  as: PgAdmin,
  db: string,
  snapshot: string,
  select: string,
  settings: Record<string, string>,
  pgBinDir?: string,
): Command {
  if (!SNAPSHOT.test(snapshot)) throw new Invalid(`not a snapshot id: ${JSON.stringify(snapshot)}`);
  const cmd = psql(as, db, settings, { default_transaction_read_only: "on" }, "odooops-anonymize", pgBinDir);
  cmd.argv.push(
    "-c",
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    "-c",
    `SET TRANSACTION SNAPSHOT '${snapshot}'`,
    "-c",
    `COPY (${select}) TO STDOUT`,
    "-c",
    "COMMIT",
  );
  return cmd;
}

/**
 * A read-only psql session that runs the statements written to its stdin, one after another
 * (the PII check's `COPY … TO STDOUT` per table: check-db.ts), and stops at the first error.
 */
export function copyReader(as: PgAdmin, db: string, pgBinDir?: string): Command {
  return psql(as, db, {}, { default_transaction_read_only: "on" }, "odooops-pii-check", pgBinDir);
}

/**
 * Loads COPY text rows from stdin into `public.table`, as the copy's owner. Not quiet: psql then
 * prints `COPY <rows>`, the count of what was written (the rows never pass through the daemon).
 */
export function copyIn(as: PgAdmin, db: string, table: string, columns: string[], pgBinDir?: string): Command {
  const cmd = psql(as, db, {}, {}, "odooops-restore", pgBinDir);
  cmd.argv = cmd.argv.filter((a) => a !== "-q");
  cmd.argv.push("-c", `COPY public.${quoteIdent(table)} (${columns.map((c) => quoteIdent(c)).join(", ")}) FROM STDIN`);
  return cmd;
}

/** The row count psql printed for `COPY … FROM STDIN` (`COPY 1234`); null when it printed none. */
export function copiedRows(stdout: string): number | null {
  const m = /^COPY (\d+)$/m.exec(stdout);
  return m ? Number(m[1]) : null;
}
