/**
 * `db clone --dry-run` for an anonymized copy: per table, how many rows the source has and, per
 * column, how many of them each rule would change — counted on the SOURCE, read-only, through the
 * source env's own role (never the admin: the database is the tenant's code, see tenant.ts).
 * Nothing is copied or written. Counts only: no value of the source leaves the database.
 */
import type { SQL } from "bun";
import type { Environment } from "../../env/env.sql";
import { envDbLogin } from "../../env/tenant-login";
import { quoteIdent } from "../../host/postgres/quote";
import { ownedPublicTables, withTenant, type TenantLogin } from "../../host/postgres/tenant";
import type { Deps } from "../../deps";
import { anonymizeRulesFor, type OneRunRules } from "../anonymize-rules";
import type { AnonymizeRules, ColumnRule } from "../backup/anonymize";
import type { AnonymizationPreview } from "../schema";

/** The rule's kind as the rules file spells it (`set`, `template`, `devPassword`, …). */
export function ruleKind(rule: ColumnRule): string {
  return Object.keys(rule)[0] ?? "?";
}

/**
 * The rows a rule changes: a constant, those whose value differs from it; `onlyIfEmail` and the
 * `login` fake, those holding an "@"; other fakes leave NULL and '' alone; templates and the dev
 * password rewrite each non-NULL value.
 */
export function changedWhen(column: string, rule: ColumnRule, params: unknown[]): string {
  const col = quoteIdent(column);
  if ("set" in rule) {
    params.push(rule.set === null ? null : String(rule.set));
    return `${col}::text IS DISTINCT FROM $${params.length}::text`;
  }
  if (("template" in rule && rule.onlyIfEmail) || ("fake" in rule && rule.fake === "login"))
    return `${col}::text LIKE '%@%'`;
  if ("fake" in rule) return `${col} IS NOT NULL AND ${col}::text <> ''`;
  return `${col} IS NOT NULL`;
}

export interface PreviewQuery {
  sql: string;
  params: unknown[];
  /** The columns counted, in the order of the `cN` result fields, with their rule kind. */
  columns: { column: string; rule: string }[];
  /** Rule columns the table does not have. */
  missing: string[];
}

/** One counting query for a table (identifiers validated and quoted, constants as parameters). */
export function previewQuery(table: string, present: Set<string>, columns: Record<string, ColumnRule>): PreviewQuery {
  const params: unknown[] = [];
  const counted: PreviewQuery["columns"] = [];
  const missing: string[] = [];
  const parts = ["count(*)::bigint AS n"];
  for (const [column, rule] of Object.entries(columns)) {
    if ("keep" in rule) continue;
    if (!present.has(column)) {
      missing.push(column);
      continue;
    }
    parts.push(`count(*) FILTER (WHERE ${changedWhen(column, rule, params)})::bigint AS c${counted.length}`);
    counted.push({ column, rule: ruleKind(rule) });
  }
  return { sql: `SELECT ${parts.join(", ")} FROM public.${quoteIdent(table)}`, params, columns: counted, missing };
}

async function publicColumns(sql: SQL): Promise<Map<string, Set<string>>> {
  const owned = new Set(await ownedPublicTables(sql));
  const rows = await sql<{ t: string; c: string }[]>`
    SELECT c.relname AS t, a.attname AS c FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped`;
  const byTable = new Map<string, Set<string>>();
  for (const { t, c } of rows) if (owned.has(t)) byTable.set(t, (byTable.get(t) ?? new Set()).add(c));
  return byTable;
}

/** What `rules` would change in the database `login` opens (read-only; see the file comment). */
export async function previewAnonymization(
  login: TenantLogin,
  rules: AnonymizeRules,
): Promise<Omit<AnonymizationPreview, "sources">> {
  return withTenant(login, (sql) =>
    sql.begin("READ ONLY", async (tx) => {
      const byTable = await publicColumns(tx);
      const out: Omit<AnonymizationPreview, "sources"> = { tables: [], skipped: [] };
      for (const [table, tr] of Object.entries(rules.tables)) {
        if (!tr.enabled) continue;
        const present = byTable.get(table);
        if (!present) {
          out.skipped.push(table);
          continue;
        }
        const q = previewQuery(table, present, tr.columns);
        out.skipped.push(...q.missing.map((c) => `${table}.${c}`));
        if (q.columns.length === 0) continue;
        const [row] = await tx.unsafe<Record<string, string | number>[]>(q.sql, q.params);
        out.tables.push({
          table,
          rows: Number(row?.n ?? 0),
          columns: q.columns.map((c, i) => ({ ...c, rows: Number(row?.[`c${i}`] ?? 0) })),
        });
      }
      return out;
    }),
  );
}

/** The dry run of a clone from `source`: the rules that copy would get, and what they would change. */
export async function cloneAnonymizationPreview(
  deps: Pick<Deps, "db" | "paths" | "box" | "config">,
  source: Environment,
  oneRun?: OneRunRules,
): Promise<AnonymizationPreview> {
  // A dry run changes nothing and logs nothing: a failed fetch falls back to the mirror silently.
  const choice = await anonymizeRulesFor(deps, source, { log: () => undefined }, oneRun);
  return { sources: choice.sources, ...(await previewAnonymization(envDbLogin(deps, source), choice.rules)) };
}
