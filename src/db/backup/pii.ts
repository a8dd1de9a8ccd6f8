/**
 * The needles of the PII check (read from the source), the catalog of what it reads, and a scan
 * of a database for them that runs entirely in SQL. The check itself (db/anonymize/check.ts)
 * reads the same columns with db/anonymize/check-db.ts, which matches in the daemon and is
 * faster; this SQL scan finds the same values (test/db/anonymize/check-db.test.ts) and serves
 * the tests as a scanner independent of the check's matcher.
 *
 * Needles: the e-mail addresses and phone numbers of the SOURCE, read from every place Odoo keeps
 * them (NEEDLE_SOURCES, whichever exist), plus its identity (`database.uuid`/`secret`) and its
 * users' password hashes. Read as the source's own role, from the source database: a copy may be
 * anonymized while it is written, so it is never a faithful picture of what must not be in it.
 *
 * Scan: every column of a text-like type (text, varchar, char, name, citext, enums, composites,
 * json/jsonb, xml, tsvector, arrays of those) and every bytea of every table and materialized
 * view of every non-system schema of the copy. One pass per table reads all its text-like columns
 * joined per row (rowScanSql: one regular expression per row, not per value); only a table with a
 * finding is read again per column (unpivoted with LATERAL VALUES) to name them; a bytea column is read on its own, in 4 MiB slices decoded
 * with `encode(…, 'escape')` (NUL bytes dropped, so UTF-16 text reads as text). Tokens are
 * extracted with regular expressions and joined against the needles in temporary tables (see anonymize/pii-match.ts), so the cost is one pass over the
 * data, not rows × needles. A table the role cannot read fails the check: what it holds cannot be
 * vouched for. `sql` is always a tenant session (host/postgres/tenant.ts), never the admin.
 */
import type { SQL } from "bun";
import { Invalid } from "../../errors";
import { quoteIdent } from "../../host/postgres/quote";
import { hasOwnedTable } from "../../host/postgres/tenant";
import { eachBatch } from "../anonymize/cursor";
import { GarbageBound } from "../anonymize/garbage-bound";
import { AT_MARKERS, ENCODING_MARKERS, emailsOf, needsSqlLower, phonesOf } from "../anonymize/needle-extract";
import {
  AT_RE,
  DOT_RE,
  EMAIL_RE,
  MAX_LOCAL,
  MIN_PHONE_DIGITS,
  maskValue,
  PHONE_RE,
  phoneKeys,
} from "../anonymize/pii-match";

export interface PiiNeedles {
  /** Lower-cased addresses. */
  emails: string[];
  /** Digits only, ≥ 7 of them. */
  phones: string[];
  /** The source's `database.uuid` and `database.secret` (null when absent). */
  identity: { uuid: string | null; secret: string | null };
  /** The source's res_users.password values. */
  passwordHashes: string[];
  /** "table.column" the needles were read from. */
  sources: string[];
}

export interface PiiHit {
  /** `table`, or `schema.table` outside `public`. */
  table: string;
  column: string;
  kind: "email" | "phone";
  /** Masked (first characters only): the report must not leak what it found. */
  sample: string;
  /** Distinct source values found in this column. */
  count: number;
}

/** What a "passed" rests on, for the job log. */
export interface PiiScanStats {
  tables: number;
  columns: number;
  rows: number;
  /** Bytes of text read (bytea counted as its escaped text). */
  bytes: number;
}

/** Where Odoo (16–18, standard modules) stores people's addresses and numbers. */
export const NEEDLE_SOURCES: Record<string, { emails?: string[]; phones?: string[] }> = {
  res_partner: { emails: ["email", "email_normalized"], phones: ["phone", "mobile", "phone_sanitized"] },
  res_users: { emails: ["login"] },
  res_company: { emails: ["email"], phones: ["phone", "mobile"] },
  mail_message: { emails: ["email_from", "reply_to"] },
  mail_mail: { emails: ["email_to", "email_cc"] },
  mail_tracking_value: { emails: ["old_value_char", "new_value_char"] },
  crm_lead: { emails: ["email_from", "email_cc", "email_normalized"], phones: ["phone", "mobile", "phone_sanitized"] },
  hr_employee: {
    emails: ["private_email", "work_email"],
    phones: ["private_phone", "work_phone", "mobile_phone", "emergency_phone", "phone"],
  },
  hr_applicant: {
    emails: ["email_from", "email_cc", "email_normalized"],
    phones: ["partner_phone", "partner_mobile", "partner_phone_sanitized"],
  },
  event_registration: { emails: ["email"], phones: ["phone", "mobile"] },
  calendar_attendee: { emails: ["email"] },
  website_visitor: { emails: ["email"], phones: ["mobile"] },
  payment_transaction: { emails: ["partner_email"], phones: ["partner_phone"] },
  survey_user_input: { emails: ["email"] },
  mailing_contact: { emails: ["email"] },
};

/** Parameters every scan statement takes, in this order ($1…$4). */
export const SCAN_PARAMS = [EMAIL_RE, PHONE_RE, AT_RE, DOT_RE] as const;

/** A name from the catalog, quoted exactly (tenant tables may have any name). */
export function quoteName(name: string): string {
  if (name.includes("\0")) throw new Invalid("identifier contains a NUL byte");
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Lower-cased text with the encodings of `@` and `.` undone ($3, $4) when it has any. Gates use
 * strpos, not regular expressions: PostgreSQL converts the whole value to wide characters for
 * every regular expression, which is most of a scan's cost on large values.
 */
function normalized(expr: string): string {
  const marked = ENCODING_MARKERS.map((m) => `strpos(${expr}, '${m}') > 0`).join(" OR ");
  return `CASE WHEN ${marked} THEN regexp_replace(regexp_replace(lower(${expr}), $3, '@', 'g'), $4, '.', 'g') ELSE lower(${expr}) END`;
}

/** A value worth extracting e-mails from: it has an `@`, encoded or not (AT_MARKERS). */
function emailGate(expr: string): string {
  return AT_MARKERS.map((m) => `strpos(${expr}, '${m}') > 0`).join(" OR ");
}

/**
 * The text of a bytea for the scan: `encode(…, 'escape')` keeps printable ASCII as it is and
 * writes other bytes as `\ddd` (the backslash ends any token); NULs are dropped, so UTF-16 text
 * reads as text. Plain replace, no regular expression: this runs over every byte stored.
 */
export function byteaText(expr: string): string {
  return `replace(encode(${expr}, 'escape'), '\\000', '')`;
}

/**
 * Rows of (needle) for the source addresses in text `s`. A needle is found when its local part
 * is a suffix of a token's local part and its domain a label-prefix of the token's domain; each
 * token is looked up by its last 1, 2 and 3 characters and a domain prefix (a needle's `key`: the
 * last 3 characters of its local part, all when shorter, `@`, its domain), one index probe each,
 * whatever the token's length. OFFSET 0 keeps the probe a lookup per token: unfenced, the planner
 * (which guesses 1,000 rows per generate_series) joins every token with every needle.
 */
function emailMatches(s: string): string {
  return `SELECT n.v AS needle FROM regexp_matches(${normalized(s)}, $1, 'g') AS m
    CROSS JOIN LATERAL (SELECT right(m[1], ${MAX_LOCAL}) AS l, string_to_array(m[2], '.') AS p) AS t
    CROSS JOIN LATERAL generate_series(1, least(${EMAIL_TAIL}, length(t.l))) AS i
    CROSS JOIN LATERAL generate_series(2, cardinality(t.p)) AS k
    CROSS JOIN LATERAL (SELECT e.v, e.loc FROM pg_temp.odooops_pii_email e
      WHERE e.key = right(t.l, i) || '@' || array_to_string(t.p[1:k], '.') OFFSET 0) AS n
    WHERE (${emailGate(s)}) AND right(t.l, length(n.loc)) = n.loc`;
}

/** Characters of a needle's local part its lookup key ends with. */
const EMAIL_TAIL = 3;

/**
 * Rows of (needle) for the source phone numbers in text `s` (see pii-match.ts: group ends): a
 * number is named by its core, as the matcher names it.
 */
function phoneMatches(s: string): string {
  return `SELECT n.core AS needle FROM regexp_matches(${s}, $2, 'g') AS m
    CROSS JOIN LATERAL (SELECT regexp_split_to_array(m[1], '[^0-9]+') AS g) AS t
    CROSS JOIN LATERAL generate_series(1, cardinality(t.g)) AS j
    CROSS JOIN LATERAL (SELECT array_to_string(t.g[1:j], '') AS d) AS p
    JOIN pg_temp.odooops_pii_phone n ON n.key = right(p.d, ${MIN_PHONE_DIGITS}) AND right(p.d, length(n.core)) = n.core`;
}

/**
 * One pass over `from` (which binds the row as `x`): for each of `exprs` (text expressions over
 * `x`), the distinct source values found and the bytes read. Rows: (c = index in exprs, kind
 * 'scanned' | 'email' | 'phone', n, sample, bytes).
 */
export function scanSql(from: string, exprs: string[]): string {
  const values = exprs.map((e, i) => `(${i}, ${e})`).join(", ");
  return `SELECT d.c, d.kind, count(d.needle)::int AS n, min(d.needle) AS sample, coalesce(sum(d.bytes), 0)::bigint AS bytes
  FROM (SELECT v.c, f.kind, f.needle, sum(f.bytes) AS bytes
  FROM ${from}
  CROSS JOIN LATERAL (VALUES ${values}) AS v(c, s)
  CROSS JOIN LATERAL (
    SELECT 'scanned'::text AS kind, NULL::text AS needle, octet_length(v.s)::bigint AS bytes
    UNION ALL SELECT 'email', e.needle, 0 FROM (${emailMatches("v.s")}) AS e
    UNION ALL SELECT 'phone', p.needle, 0 FROM (${phoneMatches("v.s")}) AS p
  ) AS f
  WHERE v.s IS NOT NULL
  GROUP BY v.c, f.kind, f.needle) AS d
  GROUP BY d.c, d.kind`;
}

/**
 * Whether any row of `rel` holds a source value in its text-like `columns`, and the bytes read:
 * one regular expression per ROW, not per value. The values of a row are joined with newlines;
 * no token of either expression (EMAIL_RE's local part and domain, PHONE_RE's digits and
 * separators, the encodings of AT_RE/DOT_RE) contains a newline, and PHONE_RE's look-arounds see
 * a newline as they see the start or end of a value, so the joined text has exactly the matches
 * of its values, none spanning two. Rows: (hits, bytes); `hits` counts rows with a finding, then
 * textScanSql names the columns. The bytes are each value's, without the newlines.
 */
export function rowScanSql(rel: string, columns: string[]): string {
  const values = columns.map((c) => `x.${quoteName(c)}::text`).join(", ");
  return `SELECT count(*) FILTER (WHERE EXISTS (${emailMatches("r.s")}) OR EXISTS (${phoneMatches("r.s")}))::int AS hits,
    coalesce(sum(octet_length(r.s) - greatest(r.k - 1, 0)), 0)::bigint AS bytes
  FROM (SELECT concat_ws(E'\\n', ${values}) AS s, num_nonnulls(${values}) AS k FROM ${rel} AS x OFFSET 0) AS r`;
}

/** Slice size of a bytea scan: bounded memory per value whatever its size. */
export const BYTEA_SLICE = 4 * 1024 * 1024;
/** Slices overlap by this much, so a value cut at a boundary is still seen whole. */
export const BYTEA_OVERLAP = 512;

/** The scan of one bytea column, slice by slice. */
export function byteaScanSql(rel: string, column: string): string {
  const col = `x.${quoteName(column)}`;
  const from = `${rel} AS x CROSS JOIN LATERAL generate_series(0, (octet_length(${col}) - 1) / ${BYTEA_SLICE}) AS g(i)`;
  return scanSql(from, [
    byteaText(`substring(${col} FROM g.i * ${BYTEA_SLICE} + 1 FOR ${BYTEA_SLICE + BYTEA_OVERLAP})`),
  ]);
}

/** The scan of a table's text-like columns in one pass. */
export function textScanSql(rel: string, columns: string[]): string {
  return scanSql(
    `${rel} AS x`,
    columns.map((c) => `x.${quoteName(c)}::text`),
  );
}

/** The addresses of the values in `from` (which binds each as `v.s`), distinct. */
function emailNeedlesSql(from: string): string {
  return `SELECT DISTINCT 'email' AS kind, right(m[1], ${MAX_LOCAL}) || '@' || m[2] AS v
      FROM ${from}
      CROSS JOIN LATERAL regexp_matches(${normalized("v.s")}, $1, 'g') AS m
      WHERE ${emailGate("v.s")}`;
}

/** Every statement takes all of SCAN_PARAMS: typed here even when one is not used. */
const TYPED_PARAMS = "WITH params AS (SELECT $1::text, $2::text, $3::text, $4::text)";

/**
 * Needles of one source table: (kind, v) rows, addresses extracted and phones as digits. The
 * definition of the needles: readPii extracts the same in the daemon (anonymize/needle-extract.ts)
 * from the plain values, and asks this SQL only about the few values it cannot lower-case the
 * same way (needleValuesSql).
 */
export function needleSql(table: string, emails: string[], phones: string[]): string {
  const parts: string[] = [];
  const rel = `public.${quoteIdent(table)}`;
  if (emails.length > 0) {
    const values = emails.map((c) => `(x.${quoteIdent(c)}::text)`).join(", ");
    parts.push(emailNeedlesSql(`${rel} AS x CROSS JOIN LATERAL (VALUES ${values}) AS v(s)`));
  }
  if (phones.length > 0) {
    const values = phones.map((c) => `(x.${quoteIdent(c)}::text)`).join(", ");
    parts.push(`SELECT DISTINCT 'phone' AS kind, d AS v
      FROM ${rel} AS x CROSS JOIN LATERAL (VALUES ${values}) AS v(s)
      CROSS JOIN LATERAL regexp_matches(v.s, $2, 'g') AS m
      CROSS JOIN LATERAL regexp_replace(m[1], '[^0-9]', '', 'g') AS d
      WHERE length(d) >= ${MIN_PHONE_DIGITS}`);
  }
  return `${TYPED_PARAMS}\n${parts.join("\nUNION\n")}`;
}

/** needleSql's addresses of the values in $5 (text[]). */
export const needleValuesSql = `${TYPED_PARAMS}\n${emailNeedlesSql("unnest($5::text[]) AS v(s)")}`;

/**
 * The needle columns of one source table as they are, e-mail columns first: no expression per
 * row, the extraction runs in the daemon (needle-extract.ts).
 */
export function needleColumnsSql(table: string, columns: string[]): string {
  return `SELECT ${columns.map((c) => `x.${quoteIdent(c)}::text`).join(", ")} FROM public.${quoteIdent(table)} AS x`;
}

async function columnsOf(sql: SQL, table: string): Promise<Set<string>> {
  const rows = await sql<{ c: string }[]>`
    SELECT a.attname AS c FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relname = ${table} AND a.attnum > 0 AND NOT a.attisdropped`;
  return new Set(rows.map((r) => r.c));
}

/** Reads the needles from the SOURCE database (a tenant session as the source's role). */
export async function collectPii(session: SQL): Promise<PiiNeedles> {
  const emails = new Set<string>();
  const phones = new Set<string>();
  const rest = await readPii(session, (kind, v) => (kind === "email" ? emails : phones).add(v));
  return { emails: [...emails].sort(), phones: [...phones].sort(), ...rest };
}

/** What the source gives besides its e-mails and phones. */
export type PiiRest = Omit<PiiNeedles, "emails" | "phones">;

/**
 * The needles of `collectPii`, each handed to `sink` as it is read (duplicates included): the
 * PII check packs them at once (anonymize/check.ts), never holding them all as JS strings.
 */
export async function readPii(session: SQL, sink: (kind: "email" | "phone", v: string) => void): Promise<PiiRest> {
  return session.begin(async (sql) => {
    await sql`SET LOCAL jit = off`;
    return readNeedles(sql, sink);
  });
}

/** Source rows per FETCH. */
const NEEDLE_BATCH = 10_000;

/**
 * Garbage a needle value read leaves besides its characters: its string, the lower-cased copy,
 * the match arrays and the needles' own strings. Needle values are short (≈ 25 characters), so
 * counted by their characters alone the collections came every ~300,000 values, and that garbage
 * was the daemon's peak: at 2 GiB 223–298 MB for ≈ 126 MB of needles (then packed strings), 176–180 MB counting
 * 256 bytes a value (bench/README.md).
 */
const VALUE_GARBAGE = 256;

/**
 * Every needle of one source table to `sink`: the values read as they are (the next batch read
 * while this one is extracted, cursor.ts), extracted in the daemon; the rare value only
 * PostgreSQL can lower-case as needleSql does is extracted by it, a batch of them per statement.
 */
async function tableNeedles(
  sql: SQL,
  table: string,
  emails: string[],
  phones: string[],
  sink: (kind: "email" | "phone", v: string) => void,
  bound: GarbageBound,
): Promise<void> {
  const toEmail = (v: string) => sink("email", v);
  const toPhone = (v: string) => sink("phone", v);
  let inSql: string[] = [];
  const extractInSql = async () => {
    const values = inSql;
    inSql = [];
    for (const r of (await sql.unsafe(needleValuesSql, [...SCAN_PARAMS, values])) as { v: string }[]) toEmail(r.v);
  };
  const select = needleColumnsSql(table, [...emails, ...phones]);
  await eachBatch(sql, { name: "odooops_needles", select, batch: NEEDLE_BATCH }, async (rows) => {
    let chars = 0;
    for (const row of rows) {
      for (let i = 0; i < row.length; i++) {
        const v = row[i];
        if (typeof v !== "string") continue;
        chars += v.length + VALUE_GARBAGE;
        if (i >= emails.length) phonesOf(v, toPhone);
        else if (needsSqlLower(v)) inSql.push(v);
        else emailsOf(v, toEmail);
      }
    }
    // Every value read and what its extraction made are garbage now (see garbage-bound.ts).
    bound.read(chars);
    if (inSql.length >= NEEDLE_BATCH) await extractInSql();
  });
  if (inSql.length > 0) await extractInSql();
}

async function readNeedles(sql: SQL, sink: (kind: "email" | "phone", v: string) => void): Promise<PiiRest> {
  const sources: string[] = [];
  const bound = new GarbageBound();
  for (const [table, src] of Object.entries(NEEDLE_SOURCES)) {
    if (!(await hasOwnedTable(sql, table))) continue;
    const present = await columnsOf(sql, table);
    const e = (src.emails ?? []).filter((c) => present.has(c));
    const p = (src.phones ?? []).filter((c) => present.has(c));
    if (e.length + p.length === 0) continue;
    sources.push(...[...e, ...p].map((c) => `${table}.${c}`));
    // Through a cursor, as arrays: one batch of rows at a time, never one object per needle for
    // the whole source (bench/README.md: the daemon's RSS grew with it).
    await tableNeedles(sql, table, e, p, sink, bound);
  }
  const identity: PiiNeedles["identity"] = { uuid: null, secret: null };
  if (await hasOwnedTable(sql, "ir_config_parameter")) {
    for (const r of await sql<{ key: string; value: string }[]>`
      SELECT key, value FROM public.ir_config_parameter WHERE key IN ('database.uuid', 'database.secret')`) {
      if (r.key === "database.uuid") identity.uuid = r.value;
      else identity.secret = r.value;
    }
  }
  let passwordHashes: string[] = [];
  if ((await hasOwnedTable(sql, "res_users")) && (await columnsOf(sql, "res_users")).has("password")) {
    passwordHashes = (
      await sql<{ v: string }[]>`SELECT DISTINCT password AS v FROM public.res_users WHERE coalesce(password, '') <> ''`
    ).map((r) => r.v);
  }
  return { identity, passwordHashes, sources };
}

/** Text-like types by name (besides the string, enum and composite categories). */
export const TEXTLIKE_TYPES = ["json", "jsonb", "xml", "tsvector", "bytea"];

/** Every column the scan reads, and every relation it cannot: non-system schemas, tables and matviews. */
export const CATALOG_SQL = `SELECT n.nspname AS s, c.relname AS t, a.attname AS col, bt.typname = 'bytea' AS bytea,
    (pg_catalog.has_schema_privilege(n.oid, 'USAGE') AND pg_catalog.has_table_privilege(c.oid, 'SELECT')) AS readable
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
  JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
  LEFT JOIN pg_catalog.pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
  LEFT JOIN pg_catalog.pg_type eb ON eb.oid = CASE WHEN et.typtype = 'd' THEN et.typbasetype ELSE et.oid END
 WHERE c.relkind IN ('r', 'm')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
   AND (bt.typcategory IN ('S', 'E', 'C') OR bt.typname = ANY($1::text[])
        OR eb.typcategory IN ('S', 'E', 'C') OR eb.typname = ANY($1::text[]))
 ORDER BY 1, 2, a.attnum`;

export interface Relation {
  schema: string;
  table: string;
  text: string[];
  bytea: string[];
  readable: boolean;
}

export function relationsOf(
  rows: { s: string; t: string; col: string; bytea: boolean; readable: boolean }[],
): Relation[] {
  const byName = new Map<string, Relation>();
  for (const r of rows) {
    const key = `${r.s}.${r.t}`;
    const rel = byName.get(key) ?? { schema: r.s, table: r.t, text: [], bytea: [], readable: r.readable };
    (r.bytea ? rel.bytea : rel.text).push(r.col);
    byName.set(key, rel);
  }
  return [...byName.values()];
}

/** The name a report uses: `table` in public, else `schema.table`. */
export function shownName(r: Pick<Relation, "schema" | "table">): string {
  return r.schema === "public" ? r.table : `${r.schema}.${r.table}`;
}

/**
 * Loads the needles into this transaction's temporary tables (dropped at commit). Never
 * ANALYZEd: statistics of a temporary table are rows of the copy's own pg_statistic, and their
 * dead versions would keep the source's addresses on the copy's disk after the check (the
 * independent on-disk scan of test/db/anonymize-proof.test.ts found exactly that). The scan
 * statements run with JIT off: generate_series' default estimates make the planner JIT-compile
 * every statement, which costs a second each and saves nothing.
 */
async function loadNeedles(tx: SQL, needles: Pick<PiiNeedles, "emails" | "phones">): Promise<void> {
  await tx`CREATE TEMP TABLE odooops_pii_email (v text PRIMARY KEY, loc text NOT NULL, key text NOT NULL) ON COMMIT DROP`;
  await tx`CREATE INDEX ON pg_temp.odooops_pii_email (key)`;
  await tx`CREATE TEMP TABLE odooops_pii_phone (v text PRIMARY KEY, core text NOT NULL, key text NOT NULL) ON COMMIT DROP`;
  await tx`CREATE INDEX ON pg_temp.odooops_pii_phone (key)`;
  // A needle is `local@domain` as EMAIL_RE extracted it: its local part has no `@`.
  await tx.unsafe(
    `INSERT INTO pg_temp.odooops_pii_email
     SELECT v, split_part(v, '@', 1), right(split_part(v, '@', 1), ${EMAIL_TAIL}) || '@' || split_part(v, '@', 2)
       FROM (SELECT DISTINCT unnest($1::text[]) AS v) AS e`,
    [needles.emails],
  );
  const keys = needles.phones.map(phoneKeys);
  await tx`INSERT INTO pg_temp.odooops_pii_phone SELECT * FROM unnest(${needles.phones}::text[], ${keys.map((k) => k.core)}::text[], ${keys.map((k) => k.key)}::text[]) ON CONFLICT DO NOTHING`;
}

/**
 * Hits per column (empty = clean) and what was read. `exclude` lists "table.column" of `public`
 * kept on purpose. Fails (Invalid) on a relation the role cannot read.
 */
export async function scanDatabase(
  sql: SQL,
  needles: Pick<PiiNeedles, "emails" | "phones">,
  exclude: string[] = [],
): Promise<{ hits: PiiHit[]; stats: PiiScanStats }> {
  const skip = new Set(exclude);
  return sql.begin(async (tx) => {
    await tx`SET LOCAL jit = off`;
    // Per value read, the candidates are few and the needles many: each candidate must be one
    // index probe. A merge join rescans every needle per value (95 s instead of 0.3 s for 8,000
    // messages and 8,000 needles); a hash join, when the planner hashes the candidates, seq-scans
    // every needle per value (the bench's 100 MB clone never finished its check).
    await tx`SET LOCAL enable_mergejoin = off`;
    await tx`SET LOCAL enable_hashjoin = off`;
    // A probe is one index lookup: a bitmap scan's setup costs more than the lookup (1.6×).
    await tx`SET LOCAL enable_bitmapscan = off`;
    const rels = relationsOf(await tx.unsafe(CATALOG_SQL, [TEXTLIKE_TYPES]));
    const unreadable = rels.filter((r) => !r.readable);
    if (unreadable.length > 0) {
      throw new Invalid(
        `PII check cannot read ${unreadable.map(shownName).join(", ")} as the environment's role; drop those tables or give them to the role`,
      );
    }
    const stats: PiiScanStats = { tables: 0, columns: 0, rows: 0, bytes: 0 };
    const hits: PiiHit[] = [];
    if (needles.emails.length + needles.phones.length === 0) return { hits, stats };
    await loadNeedles(tx, needles);
    for (const r of rels) {
      const keep = (c: string) => !(r.schema === "public" && skip.has(`${r.table}.${c}`));
      const text = r.text.filter(keep);
      const bytea = r.bytea.filter(keep);
      if (text.length + bytea.length === 0) continue;
      const relName = `${quoteName(r.schema)}.${quoteName(r.table)}`;
      const [count] = (await tx.unsafe(`SELECT count(*)::bigint AS n FROM ${relName}`)) as { n: string | number }[];
      stats.tables += 1;
      stats.columns += text.length + bytea.length;
      stats.rows += Number(count?.n ?? 0);
      const passes: { sql: string; columns: string[]; bytea: boolean }[] = [];
      if (text.length > 0) {
        // Per row first (one expression per row); per column only to name what it found.
        const [row] = (await tx.unsafe(rowScanSql(relName, text), [...SCAN_PARAMS])) as {
          hits: number;
          bytes: string | number;
        }[];
        stats.bytes += Number(row?.bytes ?? 0);
        if ((row?.hits ?? 0) > 0) passes.push({ sql: textScanSql(relName, text), columns: text, bytea: false });
      }
      for (const c of bytea) passes.push({ sql: byteaScanSql(relName, c), columns: [c], bytea: true });
      for (const pass of passes) {
        const rows = (await tx.unsafe(pass.sql, [...SCAN_PARAMS])) as {
          c: number;
          kind: string;
          n: number;
          sample: string | null;
          bytes: string | number;
        }[];
        for (const row of rows) {
          // A text pass runs only after the row scan, which counted its bytes.
          if (row.kind === "scanned") {
            if (pass.bytea) stats.bytes += Number(row.bytes);
          } else if (row.n > 0) {
            hits.push({
              table: shownName(r),
              column: pass.columns[row.c] ?? "?",
              kind: row.kind as PiiHit["kind"],
              sample: maskValue(row.sample ?? ""),
              count: row.n,
            });
          }
        }
      }
    }
    return { hits, stats };
  });
}

/** Hits per column; empty = clean (see scanDatabase). */
export async function scanForPii(
  sql: SQL,
  needles: Pick<PiiNeedles, "emails" | "phones">,
  exclude: string[] = [],
): Promise<PiiHit[]> {
  return (await scanDatabase(sql, needles, exclude)).hits;
}
