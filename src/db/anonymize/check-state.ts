/**
 * The non-PII half of the check on an anonymized copy: what would let it act as, or for, its
 * source. Each finding is one line of the job's error. Read as the copy's own role; a table in
 * the way that is not the role's own fails (hasOwnedTable), as everywhere else.
 */
import type { SQL } from "bun";
import { NEUTRAL_MAIL_SERVER_SQL } from "../backup/neutralize";
import type { PiiNeedles } from "../backup/pii";
import { hasOwnedTable } from "../../host/postgres/tenant";

export interface StateExpectations {
  /** Crons, outgoing and incoming mail servers must all be off. */
  neutralized: boolean;
  /** The copy must have its own `database.uuid` and `database.secret`. */
  rebased: boolean;
}

/** SQL counting what is still active in `table` (public), neutral dummies aside. */
export function activeSql(table: "ir_cron" | "ir_mail_server" | "fetchmail_server"): string {
  const neutral = table === "ir_mail_server" ? ` AND NOT ${NEUTRAL_MAIL_SERVER_SQL}` : "";
  return `SELECT count(*)::int AS n FROM public.${table} WHERE active${neutral}`;
}

async function hasColumn(sql: SQL, table: string, column: string): Promise<boolean> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
      JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
     WHERE s.nspname = 'public' AND c.relname = ${table} AND a.attname = ${column} AND NOT a.attisdropped`;
  return (row?.n ?? 0) > 0;
}

/** Findings ("ir_cron: 3 active", …); empty = nothing wrong. */
export async function checkState(
  sql: SQL,
  source: Pick<PiiNeedles, "identity" | "passwordHashes">,
  expect: StateExpectations,
): Promise<string[]> {
  const findings: string[] = [];
  if (expect.neutralized) {
    for (const table of ["ir_cron", "ir_mail_server", "fetchmail_server"] as const) {
      if (!(await hasOwnedTable(sql, table)) || !(await hasColumn(sql, table, "active"))) continue;
      const [row] = (await sql.unsafe(activeSql(table))) as { n: number }[];
      if ((row?.n ?? 0) > 0) findings.push(`${table}: ${row?.n} active`);
    }
  }
  if ((expect.neutralized || expect.rebased) && (await hasOwnedTable(sql, "ir_config_parameter"))) {
    const rows = await sql<{ key: string; value: string }[]>`
      SELECT key, value FROM public.ir_config_parameter WHERE key IN ('database.uuid', 'database.secret')`;
    const now = new Map(rows.map((r) => [r.key, r.value]));
    if (source.identity.uuid !== null && now.get("database.uuid") === source.identity.uuid)
      findings.push("ir_config_parameter: database.uuid is the source's");
    if (source.identity.secret !== null && now.get("database.secret") === source.identity.secret)
      findings.push("ir_config_parameter: database.secret is the source's");
  }
  if (
    source.passwordHashes.length > 0 &&
    (await hasOwnedTable(sql, "res_users")) &&
    (await hasColumn(sql, "res_users", "password"))
  ) {
    const [row] = await sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM public.res_users WHERE password = ANY(${source.passwordHashes}::text[])`;
    if ((row?.n ?? 0) > 0) findings.push(`res_users.password: ${row?.n} of the source's password hashes`);
  }
  return findings;
}
