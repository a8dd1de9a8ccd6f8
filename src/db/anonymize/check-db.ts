/**
 * The database half of the PII check, the fast way: PostgreSQL only reads (a binary COPY per
 * table of its text-like columns cast to text, bytea in slices), and the matching runs here through
 * the same NeedleMatcher as the filestore half (pii-match.ts): per token a few hash lookups of
 * its possible keys, whatever the number of needles. PostgreSQL's regular expressions, which
 * widen every value to wide characters, and its per-token index probes were most of the check's
 * time (bench/README.md). Values are matched one by one, so each finding is named by its column
 * in the same pass; tables, and large tables by block ranges, are read by `jobs` sessions at once
 * (reading overlaps matching).
 *
 * What it reads is db/backup/pii.ts's catalog query: every text-like column (and bytea) of
 * every table and materialized view of every non-system schema; a relation the role cannot read
 * fails the check. Bytea is read as pii.ts reads it: `encode(…, 'escape')` without NULs, in
 * 4 MiB slices overlapping by 512 bytes. It finds what pii.ts's SQL scan finds, and also the
 * upper-case spellings of the encodings of `@` and `.` (`&COMMAT;`, `\U0040`) that the SQL
 * scan's case-sensitive gates let through (test/db/anonymize/check-db.test.ts compares both).
 */
import { Invalid } from "../../errors";
import { withTenant, type TenantLogin } from "../../host/postgres/tenant";
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
import { CopySession } from "./copy-session";
import { GarbageBound } from "./garbage-bound";
import { maskValue, NeedleMatcher, type NeedleSets } from "./pii-match";

interface Found {
  emails: Set<string>;
  phones: Set<string>;
}

interface RelationScan {
  rows: number;
  bytes: number;
  /** Per column read, in the report's order (text columns, then bytea); shared by its ranges. */
  found: { column: string; found: Found }[];
}

const found = (): Found => ({ emails: new Set(), phones: new Set() });

/** Blocks [from, to) of a relation; `to` null: to its end (rows added after the size was read too). */
export interface BlockRange {
  from: number;
  to: number | null;
}

/** A relation larger than this is read in block ranges of this size, by several sessions at once. */
export const CHUNK_BYTES = 64 * 1024 * 1024;

/**
 * The block ranges a relation of `blocks` blocks (of `blockSize` bytes) is read in: one (null,
 * the whole relation) up to CHUNK_BYTES. With one read per table, the largest table (the
 * bench's mail_message) was read by one session while the others had finished: the check's
 * time was that table's.
 */
export function blockRanges(blocks: number, blockSize: number, chunkBytes = CHUNK_BYTES): (BlockRange | null)[] {
  const n = Math.ceil((blocks * blockSize) / chunkBytes);
  if (n <= 1) return [null];
  return Array.from({ length: n }, (_, i) => ({
    from: Math.floor((i * blocks) / n),
    to: i === n - 1 ? null : Math.floor(((i + 1) * blocks) / n),
  }));
}

/** ` WHERE` for the rows of `range` (a TID range scan), or nothing. */
export function rangeWhere(range: BlockRange | null): string {
  if (!range) return "";
  const from = `x.ctid >= '(${range.from},0)'::tid`;
  return range.to === null ? ` WHERE ${from}` : ` WHERE ${from} AND x.ctid < '(${range.to},0)'::tid`;
}

/** `SELECT` for one bytea column, slice by slice (see pii.ts byteaScanSql). */
export function byteaSlicesSql(rel: string, column: string, range: BlockRange | null = null): string {
  const col = `x.${quoteName(column)}`;
  return `SELECT ${byteaText(`substring(${col} FROM g.i * ${BYTEA_SLICE} + 1 FOR ${BYTEA_SLICE + BYTEA_OVERLAP})`)}
  FROM ${rel} AS x CROSS JOIN LATERAL generate_series(0, (octet_length(${col}) - 1) / ${BYTEA_SLICE}) AS g(i)${rangeWhere(range)}`;
}

/**
 * `SELECT` for a table's text-like columns, each value as text. Every value is sent: a gate in
 * SQL (`strpos` for `@`, `translate` to count digits) cost PostgreSQL ten times more than
 * sending the value (3.5 s against 0.3 s for 34 MB of mail_message bodies, bench/README.md);
 * the matcher reads the bytes as they came and decodes only a value that may hold an address.
 * OFFSET 0 keeps each cast computed once (unfenced, the planner would repeat it per use).
 */
export function textColumnsSql(rel: string, columns: string[], range: BlockRange | null = null): string {
  return `SELECT ${columns.map((_, i) => `v.c${i}`).join(", ")}
  FROM (SELECT ${columns.map((c, i) => `x.${quoteName(c)}::text AS c${i}`).join(", ")} FROM ${rel} AS x${rangeWhere(range)} OFFSET 0) AS v`;
}

/**
 * Reads `range` of one relation into `out` (its ranges share it: one thread, no race). A value's
 * bytes are its field's length: the octet_length of its text, as the report counts them.
 */
async function scanRange(
  session: CopySession,
  w: Work,
  range: BlockRange | null,
  out: RelationScan,
  matcher: NeedleMatcher,
  bound: GarbageBound,
): Promise<void> {
  const rel = `${quoteName(w.r.schema)}.${quoteName(w.r.table)}`;
  const copies: Promise<void>[] = [];
  if (w.text.length > 0) {
    copies.push(
      session.copy(textColumnsSql(rel, w.text, range), (t) => {
        let bytes = 0;
        for (let i = 0; i < t.count; i++) {
          const start = t.starts[i] as number;
          if (start < 0) continue;
          bytes += (t.ends[i] as number) - start;
          matcher.scanUtf8(t.buf, start, t.ends[i] as number, (out.found[i] as { found: Found }).found);
        }
        out.rows += 1;
        out.bytes += bytes;
        bound.read(bytes);
      }),
    );
  } else {
    copies.push(
      session.copy(`SELECT count(*)::bigint FROM ${rel} AS x${rangeWhere(range)}`, (t) => {
        out.rows += Number(t.buf.readBigInt64BE(t.starts[0]));
      }),
    );
  }
  for (const [k, column] of w.bytea.entries()) {
    const f = (out.found[w.text.length + k] as { found: Found }).found;
    copies.push(
      session.copy(byteaSlicesSql(rel, column, range), (t) => {
        const start = t.starts[0] as number;
        if (start < 0) return;
        const bytes = (t.ends[0] as number) - start;
        out.bytes += bytes;
        matcher.scanUtf8(t.buf, start, t.ends[0] as number, f);
        bound.read(bytes);
      }),
    );
  }
  // All written at once: psql runs them back to back, without a round trip between them.
  await Promise.all(copies);
}

interface Work {
  r: Relation;
  text: string[];
  bytea: string[];
}

/** Each relation's size in blocks, and the block size. */
const SIZES_SQL = `SELECT n.nspname AS s, c.relname AS t, pg_catalog.pg_relation_size(c.oid)::bigint AS bytes,
    current_setting('block_size')::int AS block
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'm')`;

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
 * kept on purpose. Fails (Invalid) on a relation the role cannot read. `login`: the copy's role
 * into the copy; `jobs` psql sessions read at once (copy-session.ts), a relation larger than
 * `chunkBytes` (CHUNK_BYTES) in block ranges. `needles`: the source values, or the matcher built
 * from them (check.ts shares one with the filestore scan).
 */
export async function scanCopy(
  login: TenantLogin,
  needles: NeedleSets | NeedleMatcher,
  opts: { exclude?: string[]; jobs?: number; bound?: GarbageBound; chunkBytes?: number } = {},
): Promise<{ hits: PiiHit[]; stats: PiiScanStats }> {
  const skip = new Set(opts.exclude ?? []);
  const { rels, sizeRows } = await withTenant(login, async (sql) => ({
    rels: relationsOf(await sql.unsafe(CATALOG_SQL, [TEXTLIKE_TYPES])),
    sizeRows: (await sql.unsafe(SIZES_SQL)) as { s: string; t: string; bytes: string | number; block: number }[],
  }));
  const unreadable = rels.filter((r) => !r.readable);
  if (unreadable.length > 0) {
    throw new Invalid(
      `PII check cannot read ${unreadable.map(shownName).join(", ")} as the environment's role; drop those tables or give them to the role`,
    );
  }
  const stats: PiiScanStats = { tables: 0, columns: 0, rows: 0, bytes: 0 };
  const matcher = needles instanceof NeedleMatcher ? needles : new NeedleMatcher(needles);
  if (matcher.size === 0) return { hits: [], stats };
  const work: Work[] = rels
    .map((r) => {
      const keep = (c: string) => !(r.schema === "public" && skip.has(`${r.table}.${c}`));
      return { r, text: r.text.filter(keep), bytea: r.bytea.filter(keep) };
    })
    .filter((w) => w.text.length + w.bytea.length > 0);
  const sizes = new Map<string, { blocks: number; block: number }>();
  for (const row of sizeRows)
    sizes.set(`${row.s}.${row.t}`, { blocks: Math.ceil(Number(row.bytes) / row.block), block: row.block });
  const scans: RelationScan[] = work.map((w) => ({
    rows: 0,
    bytes: 0,
    found: [...w.text, ...w.bytea].map((column) => ({ column, found: found() })),
  }));
  // Every range of every relation, largest first: the long reads start first, the small ones fill in.
  const ranges = work
    .flatMap((w, i) => {
      const size = sizes.get(`${w.r.schema}.${w.r.table}`) ?? { blocks: 0, block: 8192 };
      return blockRanges(size.blocks, size.block, opts.chunkBytes).map((range) => ({
        i,
        range,
        blocks: range ? (range.to ?? size.blocks) - range.from : size.blocks,
      }));
    })
    .sort((a, b) => b.blocks - a.blocks);
  // One bound for all sessions: the garbage is the daemon's, whichever session read it.
  const bound = opts.bound ?? new GarbageBound();
  let next = 0;
  let failed = false;
  const worker = async () => {
    const session = new CopySession(login);
    try {
      for (let k = next++; k < ranges.length && !failed; k = next++) {
        const { i, range } = ranges[k] as (typeof ranges)[number];
        await scanRange(session, work[i] as Work, range, scans[i] as RelationScan, matcher, bound);
      }
    } catch (e) {
      failed = true;
      await session.abort();
      throw e;
    }
    await session.close();
  };
  // Two by default: matching runs on this one thread; a second session reads while a chunk is matched.
  const workers = await Promise.allSettled(
    Array.from({ length: Math.max(1, Math.min(opts.jobs ?? 2, ranges.length)) }, worker),
  );
  for (const w of workers) if (w.status === "rejected") throw w.reason;
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
