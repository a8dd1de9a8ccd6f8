/**
 * Which tables of the source are copied as they are (pg_dump's data section) and, for each
 * table a rule touches, the SELECT that produces its anonymized rows (streamed by COPY). Pure:
 * from the rules and the source's catalog to SQL text. Identifiers are validated and quoted,
 * literals quoted; COPY cannot take parameters, so the per-copy key and the dev password hash
 * are session settings of the reading session, never part of the query.
 */
import type { AnonymizeRules, ColumnRule } from "../backup/anonymize";
import { Invalid } from "../../errors";
import { quoteIdent, quoteLiteral } from "../../host/postgres/quote";
import {
  ATTACHMENT_COLUMNS,
  attachmentJoinsSql,
  businessOnlySql,
  CONTENT_COLUMNS,
  contentColumnSql,
  linkUrlSql,
} from "./attachments";
import { fakeSql } from "./fake";

/** Session setting holding the dev password's Odoo hash (see fake.ts for the key). */
export const DEV_PASSWORD_SETTING = "odooops.dev_password";

export interface SourceColumn {
  name: string;
  /** format_type(): "character varying", "jsonb", "bytea"… */
  type: string;
  nullable: boolean;
}

/** A public table the source role owns, its copyable columns in their order (no generated ones). */
export interface SourceTable {
  name: string;
  columns: SourceColumn[];
}

export interface TablePlan {
  table: string;
  /** `COPY public.t (these) FROM STDIN` on the target. */
  columns: string[];
  /** `COPY (this) TO STDOUT` on the source. */
  select: string;
  /** Columns whose values change (for the log). */
  changed: string[];
  /** ir_attachment: content replaced by placeholders. */
  attachments: boolean;
}

export interface CopyPlan {
  transformed: TablePlan[];
  /** "table" or "table.column" named by the rules but not in the source. */
  skipped: string[];
  /** Whether the dev password hash is used (the setting must then be given). */
  devPassword: boolean;
}

const JSON_TYPES = new Set(["json", "jsonb"]);

/** Text in, text out: the rule's expression over `col` (any type, read as text). */
function textRuleSql(
  rule: Exclude<ColumnRule, { keep: true }>,
  col: string,
  c: SourceColumn,
  columns: Set<string>,
): string {
  if ("set" in rule) return rule.set === null ? "NULL" : quoteLiteral(String(rule.set));
  if ("devPassword" in rule) return `current_setting('${DEV_PASSWORD_SETTING}')`;
  if ("fake" in rule) {
    if (rule.fake === "login" && !columns.has("id")) throw new Invalid(`${c.name}: fake login needs an id column`);
    return fakeSql(rule.fake, { col, nullable: c.nullable, id: quoteIdent("id") });
  }
  const parts: string[] = [];
  let last = 0;
  for (const m of rule.template.matchAll(/\{([a-z_][a-z0-9_]*)\}/g)) {
    const ref = m[1] ?? "";
    if (!columns.has(ref))
      throw new Invalid(`template ${JSON.stringify(rule.template)} refers to missing column ${ref}`);
    if (m.index > last) parts.push(quoteLiteral(rule.template.slice(last, m.index)));
    parts.push(`${quoteIdent(ref)}::text`);
    last = m.index + m[0].length;
  }
  if (last < rule.template.length) parts.push(quoteLiteral(rule.template.slice(last)));
  const expr = parts.length > 0 ? parts.join(" || ") : "''";
  const cond = rule.onlyIfEmail ? `${col}::text LIKE '%@%'` : `${col} IS NOT NULL`;
  return `CASE WHEN ${cond} THEN ${expr} ELSE ${col}::text END`;
}

/**
 * The rule's expression for column `c`. Odoo ≥ 16 stores translated fields as jsonb
 * `{"en_US": …}`: the rule then applies to the English text and the result is such an object.
 */
export function columnRuleSql(
  rule: Exclude<ColumnRule, { keep: true }>,
  c: SourceColumn,
  columns: Set<string>,
): string {
  const col = quoteIdent(c.name);
  if (!JSON_TYPES.has(c.type) || "set" in rule) return textRuleSql(rule, col, c, columns);
  const en = `(${col}::jsonb ->> 'en_US')`;
  return `CASE WHEN ${col} IS NULL THEN NULL ELSE jsonb_build_object('en_US', ${textRuleSql(rule, en, c, columns)}) END`;
}

function isAttachmentTable(t: SourceTable): boolean {
  const have = new Set(t.columns.map((c) => c.name));
  return t.name === "ir_attachment" && ATTACHMENT_COLUMNS.every((c) => have.has(c));
}

function planTable(
  t: SourceTable,
  rules: Record<string, ColumnRule>,
  modelData: boolean,
  skipped: string[],
): TablePlan | null {
  const names = new Set(t.columns.map((c) => c.name));
  for (const column of Object.keys(rules)) if (!names.has(column)) skipped.push(`${t.name}.${column}`);
  const attachments = isAttachmentTable(t);
  const select: string[] = [];
  const changed: string[] = [];
  for (const c of t.columns) {
    const col = quoteIdent(c.name);
    const rule = rules[c.name];
    if (attachments && CONTENT_COLUMNS.has(c.name)) {
      select.push(contentColumnSql(c.name));
      changed.push(c.name);
    } else if (rule && !("keep" in rule)) {
      const expr = columnRuleSql(rule, c, names);
      select.push(attachments ? businessOnlySql(col, expr) : expr);
      changed.push(c.name);
    } else if (attachments && c.name === "url") {
      select.push(linkUrlSql());
      changed.push(c.name);
    } else select.push(col);
  }
  if (changed.length === 0) return null;
  const from = `public.${quoteIdent(t.name)}${attachments ? ` ${attachmentJoinsSql({ modelData, url: names.has("url") })}` : ""}`;
  return {
    table: t.name,
    columns: t.columns.map((c) => c.name),
    select: `SELECT ${select.join(", ")} FROM ${from}`,
    changed,
    attachments,
  };
}

/** See the file comment. `tables`: every public table the source role owns. */
export function planCopy(rules: AnonymizeRules, tables: SourceTable[]): CopyPlan {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const modelData = byName.has("ir_model_data");
  const plan: CopyPlan = { transformed: [], skipped: [], devPassword: false };
  const ruled = new Map(Object.entries(rules.tables).filter(([, r]) => r.enabled));
  // Attachments are always replaced (unless the rules switch the table off): their content is
  // the one place every kind of personal data ends up.
  if (!rules.tables.ir_attachment && byName.has("ir_attachment"))
    ruled.set("ir_attachment", { enabled: true, columns: {} });
  for (const [name, tr] of ruled) {
    const t = byName.get(name);
    if (!t) {
      plan.skipped.push(name);
      continue;
    }
    const tp = planTable(t, tr.columns, modelData, plan.skipped);
    if (!tp) continue;
    plan.transformed.push(tp);
    const devCols = Object.entries(tr.columns).filter(
      ([c, r]) => "devPassword" in r && t.columns.some((x) => x.name === c),
    );
    if (devCols.length > 0) plan.devPassword = true;
  }
  return plan;
}
