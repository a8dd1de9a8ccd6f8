/**
 * The database half of the PII check, the fast way: PostgreSQL only reads (a cursor per table
 * over its text-like columns cast to text, bytea in slices), and the matching runs here through
 * the same NeedleMatcher as the filestore half (pii-match.ts): per token a few hash lookups of
 * its possible keys, whatever the number of needles. PostgreSQL's regular expressions, which
 * widen every value to wide characters, and its per-token index probes were most of the check's
 * time (bench/README.md). Values are matched one by one, so each finding is named by its column
 * in the same pass; tables are read by `jobs` sessions at once (reading overlaps matching).
 *
 * What it reads is db/backup/pii.ts's catalog query: every text-like column (and bytea) of
 * every table and materialized view of every non-system schema; a relation the role cannot read
 * fails the check. Bytea is read as pii.ts reads it: `encode(…, 'escape')` without NULs, in
 * 4 MiB slices overlapping by 512 bytes. It finds what pii.ts's SQL scan finds, and also the
 * upper-case spellings of the encodings of `@` and `.` (`&COMMAT;`, `\U0040`) that the SQL
 * scan's case-sensitive gates let through (test/db/anonymize/check-db.test.ts compares both).
 */
import type { SQL } from "bun";
import { Invalid } from "../../errors";
import {
  BYTEA_OVERLAP,
  BYTEA_SLICE,
  byteaText,
  CATALOG_SQL,
  quoteName,
  relationsOf,
  shownName,
  TEXTLIKE_TYPES,
  type PiiHit,
  type PiiScanStats,
  type Relation,
} from "../backup/pii";
import { eachBatch } from "./cursor";
import { GarbageBound } from "./garbage-bound";
import { maskValue, NeedleMatcher, type NeedleSets } from "./pii-match";

/** Rows per FETCH of text columns, and of bytea slices (4 MiB each at most). */
const TEXT_BATCH = 1000;
const BYTEA_BATCH = 4;

interface Found {
  emails: Set<string>;
  phones: Set<string>;
}

interface RelationScan {
  rows: number;
  bytes: number;
  /** Per column read, in the report's order (text columns, then bytea). */
  found: { column: string; found: Found }[];
}

const found = (): Found => ({ emails: new Set(), phones: new Set() });

/** `SELECT` for the cursor over one bytea column, slice by slice (see pii.ts byteaScanSql). */
export function byteaSlicesSql(rel: string, column: string): string {
  const col = `x.${quoteName(column)}`;
  return `SELECT ${byteaText(`substring(${col} FROM g.i * ${BYTEA_SLICE} + 1 FOR ${BYTEA_SLICE + BYTEA_OVERLAP})`)}
  FROM ${rel} AS x CROSS JOIN LATERAL generate_series(0, (octet_length(${col}) - 1) / ${BYTEA_SLICE}) AS g(i)`;
}

/**
 * `SELECT` for the cursor over a table's text-like columns: per row, the bytes of all its values
 * (for the report), then each value as text. Every value is sent: a gate in SQL (`strpos` for
 * `@`, `translate` to count digits) cost PostgreSQL ten times more than sending the value
 * (3.5 s against 0.3 s for 34 MB of mail_message bodies, bench/README.md), and the matcher's own
 * gates (MAY_HOLD_EMAIL, MAY_HOLD_PHONE) skip a value that cannot hold a source value for less.
 * OFFSET 0 keeps each cast computed once (unfenced, the planner would repeat it per use).
 */
export function textColumnsSql(rel: string, columns: string[]): string {
  const v = columns.map((_, i) => `v.c${i}`);
  return `SELECT ${v.map((c) => `coalesce(octet_length(${c}), 0)`).join(" + ")} AS bytes, ${v.join(", ")}
  FROM (SELECT ${columns.map((c, i) => `x.${quoteName(c)}::text AS c${i}`).join(", ")} FROM ${rel} AS x OFFSET 0) AS v`;
}

/**
 * Runs `select` through a cursor, `batch` rows at a time (the next FETCH sent before a batch is
 * matched: cursor.ts); `bound` hears of every batch's bytes.
 */
async function eachRow(
  tx: SQL,
  select: string,
  batch: number,
  bound: GarbageBound,
  onRow: (values: (string | null)[]) => number,
): Promise<void> {
  await eachBatch(tx, { name: "odooops_pii", select, batch }, (rows) => {
    let bytes = 0;
    for (const r of rows as (string | null)[][]) bytes += onRow(r);
    bound.read(bytes);
  });
}

async function scanRelation(
  sql: SQL,
  r: Relation,
  text: string[],
  bytea: string[],
  matcher: NeedleMatcher,
  bound: GarbageBound,
) {
  const rel = `${quoteName(r.schema)}.${quoteName(r.table)}`;
  const out: RelationScan = { rows: 0, bytes: 0, found: [] };
  await sql.begin("read only", async (tx) => {
    const textFound = text.map((column) => ({ column, found: found() }));
    if (text.length > 0) {
      await eachRow(tx, textColumnsSql(rel, text), TEXT_BATCH, bound, (values) => {
        const bytes = Number(values[0]);
        out.rows += 1;
        out.bytes += bytes;
        for (let i = 1; i < values.length; i++) {
          const v = values[i];
          if (v !== null && v !== undefined) matcher.scan(v, (textFound[i - 1] as { found: Found }).found);
        }
        return bytes;
      });
    } else {
      const [row] = (await tx.unsafe(`SELECT count(*)::bigint AS n FROM ${rel}`)) as { n: string | number }[];
      out.rows = Number(row?.n ?? 0);
    }
    out.found.push(...textFound);
    for (const column of bytea) {
      const f = found();
      await eachRow(tx, byteaSlicesSql(rel, column), BYTEA_BATCH, bound, ([v]) => {
        if (v === null || v === undefined) return 0;
        const bytes = Buffer.byteLength(v);
        out.bytes += bytes;
        matcher.scan(v, f);
        return bytes;
      });
      out.found.push({ column, found: f });
    }
  });
  return out;
}

function hitsOf(table: string, scan: RelationScan): PiiHit[] {
  const hits: PiiHit[] = [];
  for (const { column, found: f } of scan.found) {
    for (const [kind, set] of [
      ["email", f.emails],
      ["phone", f.phones],
    ] as const) {
      if (set.size === 0) continue;
      hits.push({ table, column, kind, sample: maskValue([...set].sort()[0] ?? ""), count: set.size });
    }
  }
  return hits;
}

/**
 * Hits per column (empty = clean) and what was read. `exclude` lists "table.column" of `public`
 * kept on purpose. Fails (Invalid) on a relation the role cannot read. `sql`: a tenant session
 * pool as the copy's role; `jobs` sessions read at once. `needles`: the source values, or the
 * matcher built from them (check.ts shares one with the filestore scan).
 */
export async function scanCopy(
  sql: SQL,
  needles: NeedleSets | NeedleMatcher,
  opts: { exclude?: string[]; jobs?: number; bound?: GarbageBound } = {},
): Promise<{ hits: PiiHit[]; stats: PiiScanStats }> {
  const skip = new Set(opts.exclude ?? []);
  const rels = relationsOf(await sql.unsafe(CATALOG_SQL, [TEXTLIKE_TYPES]));
  const unreadable = rels.filter((r) => !r.readable);
  if (unreadable.length > 0) {
    throw new Invalid(
      `PII check cannot read ${unreadable.map(shownName).join(", ")} as the environment's role; drop those tables or give them to the role`,
    );
  }
  const stats: PiiScanStats = { tables: 0, columns: 0, rows: 0, bytes: 0 };
  const matcher = needles instanceof NeedleMatcher ? needles : new NeedleMatcher(needles);
  if (matcher.size === 0) return { hits: [], stats };
  const work = rels
    .map((r) => {
      const keep = (c: string) => !(r.schema === "public" && skip.has(`${r.table}.${c}`));
      return { r, text: r.text.filter(keep), bytea: r.bytea.filter(keep) };
    })
    .filter((w) => w.text.length + w.bytea.length > 0);
  // One bound for all sessions: the garbage is the daemon's, whichever session read it.
  const bound = opts.bound ?? new GarbageBound();
  const scans: RelationScan[] = new Array(work.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < work.length; i = next++) {
      const w = work[i] as (typeof work)[number];
      scans[i] = await scanRelation(sql, w.r, w.text, w.bytea, matcher, bound);
    }
  };
  // Two by default: matching runs on this one thread; a second session reads while a batch is matched.
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.jobs ?? 2, work.length)) }, worker));
  const hits: PiiHit[] = [];
  work.forEach((w, i) => {
    const scan = scans[i] as RelationScan;
    stats.tables += 1;
    stats.columns += w.text.length + w.bytea.length;
    stats.rows += scan.rows;
    stats.bytes += scan.bytes;
    hits.push(...hitsOf(shownName(w.r), scan));
  });
  return { hits, stats };
}
