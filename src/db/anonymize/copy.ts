/**
 * An anonymized copy made by transforming rows while they are copied, so no source value of a
 * ruled column is ever written to the copy's disk (an UPDATE afterwards would leave them in dead
 * tuples and free space until VACUUM FULL, and in the WAL). In one snapshot of the source:
 *   1. pg_dump --section=pre-data --section=data, without the rows of the ruled tables,
 *      | pg_restore (tables, sequences, the other tables' rows; no index or constraint yet);
 *   2. per ruled table, psql `COPY (SELECT <anonymizing expressions> FROM public.t) TO STDOUT`
 *      (source role, read-only) | psql `COPY public.t FROM STDIN` (the copy's owner);
 *   3. pg_dump --section=post-data | pg_restore (indexes, constraints, triggers).
 * The snapshot is exported by a REPEATABLE READ transaction held open here until the end; the
 * dumps and the COPY sessions import it, so the copy is one consistent point in time, as a
 * single pg_dump would be. Every byte goes through pipes with backpressure (pump.ts): memory
 * stays flat however large the database, and nothing lands in a temp file.
 */
import { randomBytes } from "node:crypto";
import type { SQL } from "bun";
import type { Command } from "../../exec/command";
import { withTenant, type TenantLogin } from "../../host/postgres/tenant";
import type { Logger } from "../../log";
import { odooPasswordHash, type AnonymizeRules } from "../backup/anonymize";
import { pgDump, pgRestore } from "../backup/commands";
import { streamCommand } from "../backup/pump";
import { processSink, type PartSink } from "../backup/sinks";
import { copyIn, copyOut } from "./commands";
import { ANON_KEY_SETTING } from "./fake";
import { DEV_PASSWORD_SETTING, planCopy, type CopyPlan, type SourceTable } from "./plan";

export interface AnonymizedCopyInput {
  /** The source env's role: every read of the source runs as it. */
  sourceLogin: Omit<TenantLogin, "database">;
  sourceDb: string;
  /** Existing, empty, owned by `owner`. */
  targetDb: string;
  /** The copy's owner: everything written into the copy runs as it. */
  owner: Omit<TenantLogin, "database">;
  rules: AnonymizeRules;
  /** The copy's own password for every user (`devPassword` rules). */
  devPassword: string;
  log: Logger;
  signal?: AbortSignal;
  pgBinDir?: string;
}

export interface AnonymizedCopyReport {
  tables: { table: string; rows: number; columns: string[] }[];
  /** "table" or "table.column" named by the rules but not in the source. */
  skipped: string[];
  /** Bytes through the pipes (dumps and COPY streams). */
  bytes: number;
}

/** Every public base table with its copyable columns, in column order. */
async function sourceTables(tx: SQL): Promise<SourceTable[]> {
  const rows = await tx<{ t: string; c: string; type: string; nullable: boolean }[]>`
    SELECT c.relname AS t, a.attname AS c, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
     WHERE n.nspname = 'public' AND c.relkind = 'r'
     ORDER BY c.relname, a.attnum`;
  const tables = new Map<string, SourceTable>();
  for (const r of rows) {
    const t = tables.get(r.t) ?? { name: r.t, columns: [] };
    t.columns.push({ name: r.c, type: r.type, nullable: r.nullable });
    tables.set(r.t, t);
  }
  return [...tables.values()];
}

/** Wraps a sink to count COPY text rows: one newline each (newlines inside values are escaped). */
function countingRows(sink: PartSink): PartSink & { rows(): number } {
  let rows = 0;
  return {
    target: sink.target,
    async write(chunk) {
      for (const b of chunk) if (b === 0x0a) rows++;
      await sink.write(chunk);
    },
    commit: (n) => sink.commit(n),
    abort: (e) => sink.abort(e),
    rows: () => rows,
  };
}

/** `from` | `into`; throws the first failure (the producer's, else the consumer's). */
async function pipe(
  from: Command,
  into: Command,
  signal: AbortSignal | undefined,
): Promise<{ bytes: number; rows: number }> {
  const sink = countingRows(processSink(into, signal));
  const r = await streamCommand(from, [sink], signal);
  if (r.sourceError) throw r.sourceError;
  const outcome = r.sinks.get(sink);
  if (!outcome || !outcome.ok) throw outcome?.error ?? new Error(`${into.argv[0]} did not finish`);
  return { bytes: r.bytes, rows: sink.rows() };
}

async function copyInSnapshot(
  input: AnonymizedCopyInput,
  snapshot: string,
  plan: CopyPlan,
): Promise<AnonymizedCopyReport> {
  const { sourceLogin: src, owner, sourceDb, targetDb, pgBinDir, signal } = input;
  const report: AnonymizedCopyReport = { tables: [], skipped: plan.skipped, bytes: 0 };
  const restore = () => pgRestore(owner, targetDb, { pgBinDir });
  const excluded = plan.transformed.map((t) => t.table);
  // -Z0: compressing for a local pipe only burns CPU on both ends.
  report.bytes += (
    await pipe(
      pgDump(src, sourceDb, {
        compress: 0,
        snapshot,
        sections: ["pre-data", "data"],
        excludeTableData: excluded,
        pgBinDir,
      }),
      restore(),
      signal,
    )
  ).bytes;
  // Per copy, never stored: the fakes of two copies cannot be matched against each other.
  const settings: Record<string, string> = { [ANON_KEY_SETTING]: randomBytes(32).toString("hex") };
  if (plan.devPassword) settings[DEV_PASSWORD_SETTING] = odooPasswordHash(input.devPassword);
  for (const t of plan.transformed) {
    const r = await pipe(
      copyOut(src, sourceDb, snapshot, t.select, settings, pgBinDir),
      copyIn(owner, targetDb, t.table, t.columns, pgBinDir),
      signal,
    );
    report.bytes += r.bytes;
    report.tables.push({ table: t.table, rows: r.rows, columns: t.changed });
    input.log.info("table copied anonymized", {
      table: t.table,
      rows: r.rows,
      columns: t.changed.join(","),
      attachments: t.attachments,
    });
  }
  report.bytes += (
    await pipe(pgDump(src, sourceDb, { compress: 0, snapshot, sections: ["post-data"], pgBinDir }), restore(), signal)
  ).bytes;
  return report;
}

/** See the file comment. On failure the caller drops the target database. */
export async function copyAnonymized(input: AnonymizedCopyInput): Promise<AnonymizedCopyReport> {
  return withTenant({ ...input.sourceLogin, database: input.sourceDb }, (sql) =>
    sql.begin("isolation level repeatable read read only", async (tx) => {
      const [snap] = await tx<{ id: string }[]>`SELECT pg_export_snapshot() AS id`;
      const plan = planCopy(input.rules, await sourceTables(tx));
      return copyInSnapshot(input, snap?.id ?? "", plan);
    }),
  );
}
