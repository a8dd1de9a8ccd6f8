/**
 * Anonymization of a copied database by documented YAML rules (templates/anonymize-default.yaml,
 * overridable per project). Runs on the copy only, in one transaction, then rewrites the changed
 * tables; identifiers are validated, values travel as parameters. The rules also drive the
 * anonymizing copy (db/anonymize/), which transforms rows while copying instead.
 */
import { pbkdf2Sync, randomBytes } from "node:crypto";
import { z } from "zod";
import defaultRulesText from "../../../templates/anonymize-default.yaml" with { type: "text" };
import { checkYamlDocument, parseYamlDocument } from "../../yaml-doc";
import { Invalid } from "../../errors";
import { IDENT, quoteIdent } from "../../host/postgres/quote";
import { ATTACHMENT_COLUMNS, contentUpdateSql } from "../anonymize/attachments";
import { ANON_KEY_SETTING, fakeSql, FakeKind } from "../anonymize/fake";
import { ownedPublicTables, withTenant, type TenantLogin } from "../../host/postgres/tenant";
import type { Logger } from "../../log";

const Ident = z.string().regex(IDENT, "a lowercase SQL identifier");

const ColumnRule = z.union([
  z.object({ set: z.union([z.string(), z.number(), z.boolean(), z.null()]) }).strict(),
  z.object({ template: z.string().min(1), onlyIfEmail: z.boolean().optional() }).strict(),
  z.object({ devPassword: z.literal(true) }).strict(),
  // A generated value of a kind Odoo accepts (see anonymize/fake.ts), deterministic per copy.
  z.object({ fake: FakeKind }).strict(),
  // A project's way to switch one default rule off: the column is left as it is.
  z.object({ keep: z.literal(true) }).strict(),
]);

const TableColumn = z.string().regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/, "table.column");

const TableRules = z
  .object({ enabled: z.boolean().default(true), columns: z.record(Ident, ColumnRule).default({}) })
  .strict();

export const AnonymizeRulesSchema = z
  .object({
    version: z.literal(1),
    tables: z.record(Ident, TableRules),
    piiCheck: z
      .object({ exclude: z.array(TableColumn).default([]) })
      .strict()
      .prefault({}),
  })
  .strict();

/**
 * A project override: every key optional. A table's `enabled` and each column given replace the
 * defaults' (`{ keep: true }` switches one default column rule off); tables and columns not
 * named keep the default rules; `piiCheck.exclude` adds to the defaults' exclusions.
 */
export const AnonymizeOverrideSchema = z
  .object({
    version: z.literal(1).optional(),
    tables: z
      .record(
        Ident,
        z.object({ enabled: z.boolean().optional(), columns: z.record(Ident, ColumnRule).optional() }).strict(),
      )
      .optional(),
    piiCheck: z
      .object({ exclude: z.array(TableColumn).optional() })
      .strict()
      .optional(),
  })
  .strict();

export type AnonymizeRules = z.infer<typeof AnonymizeRulesSchema>;
export type ColumnRule = z.infer<typeof ColumnRule>;

export type AnonymizeOverride = z.infer<typeof AnonymizeOverrideSchema>;

export const defaultRules = () =>
  parseYamlDocument(AnonymizeRulesSchema, defaultRulesText, "templates/anonymize-default.yaml", "anonymization rules");

export function mergeOverride(base: AnonymizeRules, o: AnonymizeOverride): AnonymizeRules {
  const tables = { ...base.tables };
  for (const [name, t] of Object.entries(o.tables ?? {})) {
    const prev = tables[name] ?? { enabled: true, columns: {} };
    tables[name] = { enabled: t.enabled ?? prev.enabled, columns: { ...prev.columns, ...(t.columns ?? {}) } };
  }
  return AnonymizeRulesSchema.parse({
    version: 1,
    tables,
    piiCheck: { exclude: [...base.piiCheck.exclude, ...(o.piiCheck?.exclude ?? [])] },
  });
}

/** The shipped rules, with a project's override (YAML text) merged on top. */
export function loadAnonymizeRules(overrideYaml?: string, where = "anonymize.yaml"): AnonymizeRules {
  const base = defaultRules();
  if (!overrideYaml) return base;
  return mergeOverride(base, parseYamlDocument(AnonymizeOverrideSchema, overrideYaml, where, "anonymization rules"));
}

/** Every problem of an override (`file:line: key.path: problem`), or the rules it gives. */
export function checkAnonymizeRules(
  overrideYaml: string,
  where: string,
): { ok: true; rules: AnonymizeRules } | { ok: false; problems: string[] } {
  const checked = checkYamlDocument(AnonymizeOverrideSchema, overrideYaml, where);
  return checked.ok
    ? { ok: true, rules: mergeOverride(defaultRules(), checked.value) }
    : { ok: false, problems: checked.problems };
}

/** passlib's "adapted base64" (Odoo stores passlib hashes): `+` → `.`, no padding. */
function ab64(buf: Buffer): string {
  return buf.toString("base64").replace(/\+/g, ".").replace(/=+$/, "");
}

/**
 * `$pbkdf2-sha512$<rounds>$<salt>$<hash>`, the format Odoo's CryptContext verifies
 * (Odoo 17 uses 600 000 rounds; any round count verifies).
 */
export function odooPasswordHash(password: string, rounds = 600_000, salt: Buffer = randomBytes(16)): string {
  const dk = pbkdf2Sync(password, salt, rounds, 64, "sha512");
  return `$pbkdf2-sha512$${rounds}$${ab64(salt)}$${ab64(dk)}`;
}

/** SQL for a template: literal parts become parameters, `{col}` a validated column. */
function templateSql(template: string, columns: Set<string>, params: unknown[]): { expr: string; refs: string[] } {
  const parts: string[] = [];
  const refs: string[] = [];
  let last = 0;
  for (const m of template.matchAll(/\{([a-z_][a-z0-9_]*)\}/g)) {
    const col = m[1] ?? "";
    if (!columns.has(col)) throw new Invalid(`template ${JSON.stringify(template)} refers to missing column ${col}`);
    if (m.index > last) {
      params.push(template.slice(last, m.index));
      parts.push(`$${params.length}::text`);
    }
    parts.push(`${quoteIdent(col)}::text`);
    refs.push(col);
    last = m.index + m[0].length;
  }
  if (last < template.length) {
    params.push(template.slice(last));
    parts.push(`$${params.length}::text`);
  }
  return { expr: parts.length > 0 ? parts.join(" || ") : "''", refs };
}

export interface AnonymizeReport {
  tables: { table: string; rows: number; columns: string[] }[];
  /** ir_attachment rows whose content became a placeholder (see anonymize/attachments.ts). */
  attachmentsReplaced: number;
  /** "table" or "table.column" present in the rules but not in this database. */
  skipped: string[];
}

/**
 * As the copy's own role (see host/postgres/tenant.ts): its triggers fire with that role's rights only.
 * `devPassword`: the copy's own random password (never a constant: see replace-steps.ts).
 */
export async function anonymizeDatabase(
  login: TenantLogin,
  rules: AnonymizeRules,
  log: Logger,
  devPassword: string,
): Promise<AnonymizeReport> {
  const db = login.database;
  const report: AnonymizeReport = { tables: [], attachmentsReplaced: 0, skipped: [] };
  const needsHash = Object.values(rules.tables).some(
    (t) => t.enabled && Object.values(t.columns).some((c) => "devPassword" in c),
  );
  const hash = needsHash ? odooPasswordHash(devPassword) : "";
  await withTenant(login, (sql) =>
    sql.begin(async (tx) => {
      const owned = new Set(await ownedPublicTables(tx));
      // The fake kinds' key: random per copy, in this transaction's settings only.
      await tx`SELECT set_config(${ANON_KEY_SETTING}, ${randomBytes(32).toString("hex")}, true)`;
      const cols = await tx<{ t: string; c: string; nullable: string }[]>`
        SELECT c.table_name AS t, c.column_name AS c, c.is_nullable AS nullable FROM information_schema.columns c
        JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'`;
      const byTable = new Map<string, Set<string>>();
      const nullable = new Set<string>();
      for (const { t, c, nullable: n } of cols) {
        if (!owned.has(t)) continue;
        byTable.set(t, (byTable.get(t) ?? new Set()).add(c));
        if (n === "YES") nullable.add(`${t}.${c}`);
      }
      for (const [table, tr] of Object.entries(rules.tables)) {
        if (!tr.enabled) continue;
        const present = byTable.get(table);
        if (!present) {
          report.skipped.push(table);
          continue;
        }
        const params: unknown[] = [];
        const sets: string[] = [];
        const done: string[] = [];
        for (const [column, rule] of Object.entries(tr.columns)) {
          if ("keep" in rule) continue;
          if (!present.has(column)) {
            report.skipped.push(`${table}.${column}`);
            continue;
          }
          const col = quoteIdent(column);
          if ("set" in rule) {
            params.push(rule.set);
            sets.push(`${col} = $${params.length}`);
          } else if ("devPassword" in rule) {
            params.push(hash);
            sets.push(`${col} = $${params.length}`);
          } else if ("fake" in rule) {
            if (rule.fake === "login" && !present.has("id"))
              throw new Invalid(`${table}.${column}: fake login needs an id column`);
            sets.push(
              `${col} = ${fakeSql(rule.fake, { col, nullable: nullable.has(`${table}.${column}`), id: quoteIdent("id") })}`,
            );
          } else {
            const { expr } = templateSql(rule.template, present, params);
            const cond = rule.onlyIfEmail ? `${col} LIKE '%@%'` : `${col} IS NOT NULL`;
            sets.push(`${col} = CASE WHEN ${cond} THEN ${expr} ELSE ${col} END`);
          }
          done.push(column);
        }
        if (sets.length === 0) continue;
        const r = await tx.unsafe(`UPDATE public.${quoteIdent(table)} SET ${sets.join(", ")}`, params);
        report.tables.push({ table, rows: r.count ?? 0, columns: done });
      }
      const att = byTable.get("ir_attachment");
      if (att && rules.tables.ir_attachment?.enabled !== false && ATTACHMENT_COLUMNS.every((c) => att.has(c))) {
        const r = await tx.unsafe(contentUpdateSql({ modelData: byTable.has("ir_model_data"), url: att.has("url") }));
        report.attachmentsReplaced = r.count ?? 0;
        if (!report.tables.some((t) => t.table === "ir_attachment"))
          report.tables.push({ table: "ir_attachment", rows: report.attachmentsReplaced, columns: [] });
      }
    }),
  );
  // An UPDATE leaves the old row versions in the table's pages and the old keys in its indexes
  // until the table is rewritten: VACUUM FULL (as the owner, outside the transaction) writes new
  // files holding only the anonymized rows and unlinks the old ones. (Clones never get here:
  // they are anonymized while copied, see db/anonymize/copy.ts.)
  await withTenant(login, async (sql) => {
    for (const t of report.tables) await sql.unsafe(`VACUUM (FULL) public.${quoteIdent(t.table)}`);
  });
  log.info("database anonymized", {
    db,
    tables: report.tables.map((t) => `${t.table}:${t.rows}`).join(" "),
    attachmentsReplaced: report.attachmentsReplaced,
    skipped: report.skipped.length,
  });
  return report;
}
