/**
 * The PII check after anonymization: every text column of the copy is scanned for any e-mail
 * address or phone number of the source's res_partner. Matching is by token, not substring:
 * e-mail-like tokens (lower-cased) and phone-like tokens (digits only, ≥ 7) are extracted with
 * regular expressions and joined against the source's values, so the cost is one pass over the
 * text, not rows × needles. Limits: bytea (attachments in the database) and the filestore are
 * not scanned. `sql` is a tenant session (host/postgres/tenant.ts): the needles come only from
 * the role's own res_partner; the scan covers every table of `public`, and one the role cannot
 * read fails the check (what it holds cannot be vouched for).
 */
import type { SQL } from "bun";
import { Invalid } from "../../errors";
import { quoteIdent } from "../../host/postgres/quote";
import { hasOwnedTable } from "../../host/postgres/tenant";

export interface PiiNeedles {
  /** Lower-cased addresses. */
  emails: string[];
  /** Digits only, ≥ 7 of them. */
  phones: string[];
}

export interface PiiHit {
  table: string;
  column: string;
  kind: "email" | "phone";
  /** Masked (first characters only): the report must not leak what it found. */
  sample: string;
  /** Distinct source values found in this column. */
  count: number;
}

const EMAIL_RE = "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+";
const PHONE_RE = "\\+?[0-9][0-9 ().-]{5,}[0-9]";

/** Reads the source's partner e-mails and phones (run it on the copy before anonymizing, or on the source). */
export async function collectPii(sql: SQL): Promise<PiiNeedles> {
  if (!(await hasOwnedTable(sql, "res_partner"))) return { emails: [], phones: [] };
  const cols = (await sql<{ c: string }[]>`
    SELECT column_name AS c FROM information_schema.columns
    WHERE table_schema = 'public' AND table_name = 'res_partner' AND column_name IN ('email', 'phone', 'mobile')`).map((r) => r.c);
  const emails = cols.includes("email")
    ? await sql<{ v: string }[]>`
        SELECT DISTINCT lower(m[1]) AS v FROM public.res_partner p, regexp_matches(p.email, ${EMAIL_RE}, 'g') AS m WHERE p.email LIKE '%@%'`
    : [];
  const phoneCols = cols.filter((c) => c !== "email");
  const phones: { v: string }[] = [];
  for (const c of phoneCols) {
    const rows = (await sql.unsafe(
      `SELECT DISTINCT regexp_replace(${quoteIdent(c)}, '[^0-9]', '', 'g') AS v FROM public.res_partner WHERE ${quoteIdent(c)} IS NOT NULL`,
    )) as { v: string }[];
    phones.push(...rows.filter((r) => r.v.length >= 7));
  }
  return { emails: emails.map((r) => r.v), phones: [...new Set(phones.map((r) => r.v))] };
}

function mask(v: string): string {
  return `${v.slice(0, 3)}***`;
}

/** Hits per column; empty = clean. `exclude` lists "table.column" kept on purpose. */
export async function scanForPii(sql: SQL, needles: PiiNeedles, exclude: string[] = []): Promise<PiiHit[]> {
  if (needles.emails.length === 0 && needles.phones.length === 0) return [];
  const skip = new Set(exclude);
  return sql.begin(async (tx) => {
    await tx`CREATE TEMP TABLE odooops_pii_email (v text PRIMARY KEY) ON COMMIT DROP`;
    await tx`CREATE TEMP TABLE odooops_pii_phone (v text PRIMARY KEY) ON COMMIT DROP`;
    await tx`INSERT INTO pg_temp.odooops_pii_email SELECT DISTINCT unnest(${needles.emails}::text[])`;
    await tx`INSERT INTO pg_temp.odooops_pii_phone SELECT DISTINCT unnest(${needles.phones}::text[])`;
    const unreadable = await tx<{ t: string; o: string }[]>`
      SELECT c.relname AS t, pg_catalog.pg_get_userbyid(c.relowner) AS o FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT pg_catalog.has_table_privilege(c.oid, 'SELECT')
      ORDER BY 1`;
    if (unreadable.length > 0) {
      const which = unreadable.map((u) => `public.${u.t} (owner ${u.o})`).join(", ");
      throw new Invalid(`PII check cannot read ${which} as the environment's role; drop those tables or give them to the role`);
    }
    const cols = await tx<{ t: string; c: string }[]>`
      SELECT c.relname AS t, a.attname AS c FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        AND a.attnum > 0 AND NOT a.attisdropped
        AND a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'json'::regtype, 'jsonb'::regtype)
      ORDER BY 1, 2`;
    const hits: PiiHit[] = [];
    for (const { t, c } of cols) {
      if (skip.has(`${t}.${c}`)) continue;
      const col = `x.${quoteIdent(c)}::text`;
      const rows = (await tx.unsafe(
        `SELECT 'email' AS kind, count(DISTINCT e.v)::int AS n, min(e.v) AS sample
           FROM public.${quoteIdent(t)} x, regexp_matches(${col}, $1, 'g') AS m
           JOIN pg_temp.odooops_pii_email e ON e.v = lower(m[1])
          WHERE ${col} LIKE '%@%'
         UNION ALL
         SELECT 'phone', count(DISTINCT p.v)::int, min(p.v)
           FROM public.${quoteIdent(t)} x, regexp_matches(${col}, $2, 'g') AS m
           JOIN pg_temp.odooops_pii_phone p ON p.v = regexp_replace(m[1], '[^0-9]', '', 'g')
          WHERE ${col} ~ '[0-9]{2}'`,
        [EMAIL_RE, PHONE_RE],
      )) as { kind: "email" | "phone"; n: number; sample: string | null }[];
      for (const r of rows) if (r.n > 0) hits.push({ table: t, column: c, kind: r.kind, sample: mask(r.sample ?? ""), count: r.n });
    }
    return hits;
  });
}
