/**
 * `odooops db anonymize-rules --detect ENV`: the columns of ENV's database that look personal
 * and that no rule covers, so a project can add rules before a copy's check fails (or, worse,
 * before a custom module's column leaks). Two signals, like PostgreSQL Anonymizer's
 * `anon.detect()` plus a look at the data: the column's name, and a bounded sample of rows
 * (the first SAMPLE_ROWS of each table) holding e-mail addresses or phone numbers.
 * Read-only, through the env's own role (tenant.ts). Only names and counts are returned: no
 * sampled value ever leaves the database session.
 */
import type { SQL } from "bun";
import type { Environment } from "../../env/env.sql";
import { envDbLogin } from "../../env/tenant-login";
import { quoteIdent } from "../../host/postgres/quote";
import { ownedPublicTables, withTenant, type TenantLogin } from "../../host/postgres/tenant";
import type { Deps } from "../../deps";
import { anonymizeRulesFor } from "../anonymize-rules";
import type { AnonymizeRules } from "../backup/anonymize";

export const SAMPLE_ROWS = 200;

/** Name tokens that are personal data or credentials on their own (`partner_email`, `smtp_pass`…). */
const PERSONAL_TOKENS: Record<string, string> = {
  email: "e-mail",
  mail: "e-mail",
  phone: "phone",
  mobile: "phone",
  fax: "phone",
  street: "address",
  street2: "address",
  address: "address",
  zip: "address",
  city: "address",
  vat: "tax id",
  iban: "bank account",
  login: "login",
  password: "credential",
  passwd: "credential",
  pass: "credential",
  token: "credential",
  secret: "credential",
  apikey: "credential",
  ip: "ip address",
  birthday: "birth date",
  birthdate: "birth date",
  ssnid: "national id",
  sinid: "national id",
  ssn: "national id",
  passport: "national id",
  signature: "free text about a person",
};

/** Two-token names: `acc_number`, `api_key`, `private_key`, `place_of_birth`, `identification_id`… */
const PERSONAL_PAIRS: Record<string, string> = {
  "acc number": "bank account",
  "api key": "credential",
  "secret key": "credential",
  "private key": "credential",
  "access key": "credential",
  "of birth": "birth date",
  "identification id": "national id",
  "company registry": "company id",
  "car plate": "vehicle plate",
};

/** `<who>_name`: a person's (or their company's) name. */
const NAME_OWNERS = new Set([
  "partner",
  "contact",
  "customer",
  "employee",
  "holder",
  "applicant",
  "candidate",
  "user",
  "person",
  "first",
  "last",
  "full",
  "nick",
  "common",
  "complete",
  "display",
  "spouse",
  "attendee",
  "visitor",
  "company",
  "emergency",
]);
const NAME_ALONE = new Set(["firstname", "lastname", "fullname", "nickname"]);
/** Tables whose bare `name` is a person's (or a lead's / message's subject naming one). */
const PERSON_TABLE =
  /(^|_)(partner|contact|employee|applicant|candidate|attendee|registration|visitor|customer|lead|users?|resource)(_|$)/;

/** Why a column's name looks personal, or null. Pure: unit-tested on Odoo's own names. */
export function personalByName(table: string, column: string): string | null {
  const tokens = column.toLowerCase().split("_").filter(Boolean);
  for (const t of tokens) {
    const kind = PERSONAL_TOKENS[t];
    if (kind) return kind;
  }
  for (let i = 0; i + 1 < tokens.length; i++) {
    const kind = PERSONAL_PAIRS[`${tokens[i]} ${tokens[i + 1]}`];
    if (kind) return kind;
  }
  const last = tokens[tokens.length - 1];
  if (NAME_ALONE.has(column)) return "name";
  if (last === "name" && tokens.length > 1 && NAME_OWNERS.has(tokens[tokens.length - 2] ?? "")) return "name";
  if (column === "name" && PERSON_TABLE.test(table)) return "name";
  if (/^(emergency|spouse)/.test(column)) return "name";
  return null;
}

const EMAIL = /[A-Za-z0-9._%+-]+(?:@|%40|&#64;)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;
/** Phone-shaped: groups of digits with separators or a leading +/(; 8–15 digits in all. */
const PHONE = /(?:\+|\(|\b)\d[\d\s().\/-]{6,22}\d\b/g;
const DATE_LIKE = /^(?:19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.]\d{1,2}/;

/** Whether a value holds something that looks like a phone number (dates and plain counters do not). */
export function looksLikePhone(value: string): boolean {
  for (const m of value.matchAll(PHONE)) {
    const s = m[0].trim();
    const digits = s.replace(/\D/g, "").length;
    if (digits < 8 || digits > 15 || DATE_LIKE.test(s)) continue;
    // A bare run of digits is an id or an amount; a phone is written in groups or with a prefix.
    if (/^\d+$/.test(s)) continue;
    return true;
  }
  return false;
}

export function looksLikeEmail(value: string): boolean {
  return EMAIL.test(value);
}

export interface ContentSignal {
  emails: number;
  phones: number;
  sampled: number;
}

/** Counts of sampled values that hold an e-mail address or a phone number. */
export function contentSignal(values: (string | null)[]): ContentSignal {
  const s: ContentSignal = { emails: 0, phones: 0, sampled: 0 };
  for (const v of values) {
    if (v === null) continue;
    s.sampled++;
    if (looksLikeEmail(v)) s.emails++;
    else if (looksLikePhone(v)) s.phones++;
  }
  return s;
}

/** Why the sample looks personal, or null: any e-mail address; phones in at least two values (one can be chance). */
export function personalByContent(s: ContentSignal): string | null {
  const parts: string[] = [];
  if (s.emails > 0) parts.push(`${s.emails} of ${s.sampled} sampled values hold an e-mail address`);
  if (s.phones >= 2) parts.push(`${s.phones} of ${s.sampled} sampled values hold a phone number`);
  return parts.length > 0 ? parts.join("; ") : null;
}

/** Whether an enabled rule (not `keep`) covers the column, or the check excludes it knowingly. */
export function coveredBy(rules: AnonymizeRules, table: string, column: string): boolean {
  if (rules.piiCheck.exclude.includes(`${table}.${column}`)) return true;
  const t = rules.tables[table];
  if (!t || !t.enabled) return false;
  const rule = t.columns[column];
  return rule !== undefined && !("keep" in rule);
}

export interface DetectFinding {
  table: string;
  column: string;
  type: string;
  /** "name: e-mail", "content: 3 of 200 sampled values hold an e-mail address"… */
  reasons: string[];
}

export interface DetectReport {
  /** The rule layers the check was made against (see anonymize-rules.ts). */
  sources: string[];
  tablesScanned: number;
  columnsScanned: number;
  sampleRows: number;
  findings: DetectFinding[];
}

/** Text-like columns (the types the copy's check scans); bytea is the engine's (attachments). */
const TEXT_TYPES = ["text", "character varying", "character", "citext", "json", "jsonb", "xml", "name"];

async function textColumns(sql: SQL): Promise<Map<string, { column: string; type: string }[]>> {
  const owned = new Set(await ownedPublicTables(sql));
  const rows = await sql<{ t: string; c: string; type: string }[]>`
    SELECT c.relname AS t, a.attname AS c, pg_catalog.format_type(a.atttypid, NULL) AS type
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
       AND pg_catalog.format_type(a.atttypid, NULL) = ANY(${TEXT_TYPES})
     ORDER BY c.relname, a.attnum`;
  const byTable = new Map<string, { column: string; type: string }[]>();
  for (const r of rows)
    if (owned.has(r.t)) byTable.set(r.t, [...(byTable.get(r.t) ?? []), { column: r.c, type: r.type }]);
  return byTable;
}

/** The uncovered personal-looking columns of the database `login` opens (read-only). */
export async function detectPersonalColumns(
  login: TenantLogin,
  rules: AnonymizeRules,
  sampleRows = SAMPLE_ROWS,
): Promise<Omit<DetectReport, "sources">> {
  return withTenant(login, (sql) =>
    sql.begin("READ ONLY", async (tx) => {
      const byTable = await textColumns(tx);
      const findings: DetectFinding[] = [];
      let columnsScanned = 0;
      for (const [table, cols] of byTable) {
        const open = cols.filter((c) => !coveredBy(rules, table, c.column));
        if (open.length === 0) continue;
        columnsScanned += open.length;
        const list = open.map((c, i) => `${quoteIdent(c.column)}::text AS v${i}`).join(", ");
        const sample = await tx.unsafe<Record<string, string | null>[]>(
          `SELECT ${list} FROM public.${quoteIdent(table)} LIMIT ${Math.trunc(sampleRows)}`,
        );
        open.forEach((c, i) => {
          const reasons: string[] = [];
          const byName = personalByName(table, c.column);
          if (byName) reasons.push(`name: ${byName}`);
          const byContent = personalByContent(contentSignal(sample.map((r) => r[`v${i}`] ?? null)));
          if (byContent) reasons.push(`content: ${byContent}`);
          if (reasons.length > 0) findings.push({ table, column: c.column, type: c.type, reasons });
        });
      }
      return { tablesScanned: byTable.size, columnsScanned, sampleRows, findings };
    }),
  );
}

/** Detect for an env, against the rules a copy of it would get today (every layer). */
export async function detectForEnv(
  deps: Pick<Deps, "db" | "paths" | "box" | "config">,
  env: Environment,
): Promise<DetectReport> {
  const choice = await anonymizeRulesFor(deps, env, { log: () => undefined });
  return { sources: choice.sources, ...(await detectPersonalColumns(envDbLogin(deps, env), choice.rules)) };
}
