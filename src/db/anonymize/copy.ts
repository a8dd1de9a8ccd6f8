/**
 * An anonymized copy made by transforming rows while they are copied, so no source value of a
 * ruled column is ever written to the copy's disk (an UPDATE afterwards would leave them in dead
 * tuples and free space until VACUUM FULL, and in the WAL). In one snapshot of the source:
 *   1. pg_dump --section=pre-data | pg_restore (tables, types, functions; no row, no index);
 *   2. at the same time, up to `jobs` streams, largest first:
 *      - pg_dump --section=data without the rows of the ruled tables | pg_restore,
 *      - per ruled table, psql `COPY (SELECT <anonymizing expressions> FROM public.t) TO STDOUT`
 *        (source role, read-only) | psql `COPY public.t FROM STDIN` (the copy's owner);
 *   3. pg_restore -j `jobs` of the post-data section (indexes, constraints, triggers), built once
 *      over the loaded rows, several at a time.
 * The anonymizing happens in the source's SELECT: no stream needs the daemon, so each is a
 * kernel pipe between its two processes (exec/pipe.ts) and memory stays flat however large the
 * database. No row lands in a file: the post-data archive (DDL only: no row, no value) is the
 * one file, in a private directory removed at the end, because pg_restore -j must seek.
 * The snapshot is exported by a REPEATABLE READ transaction held open here until the streams
 * end; the dumps and the COPY sessions import it, so the copy is one consistent point in time,
 * as a single pg_dump would be.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import type { SQL } from "bun";
import type { Command } from "../../exec/command";
import { runPipe } from "../../exec/pipe";
import { run } from "../../exec/run";
import { withTenant, type TenantLogin } from "../../host/postgres/tenant";
import type { Logger } from "../../log";
import { odooPasswordHash, type AnonymizeRules } from "../backup/anonymize";
import { pgDump, pgRestore, type DumpOptions } from "../backup/commands";
import { streamCommand } from "../backup/pump";
import { localFileSink } from "../backup/sinks";
import { copiedRows, copyIn, copyOut } from "./commands";
import { ANON_KEY_SETTING } from "./fake";
import { DEV_PASSWORD_SETTING, planCopy, type CopyPlan, type SourceTable } from "./plan";

/** Streams at once, and pg_restore's jobs: the host's cores, at least 2 (config anonymize.copyJobs). */
export function defaultCopyJobs(): number {
  return Math.max(2, availableParallelism());
}

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
  /** Streams at once and pg_restore -j; default defaultCopyJobs(). */
  jobs?: number;
}

export interface AnonymizedCopyReport {
  tables: { table: string; rows: number; columns: string[] }[];
  /** "table" or "table.column" named by the rules but not in the source. */
  skipped: string[];
  /** Size of the copy's database when copied (the streams' bytes never pass through the daemon). */
  bytes: number;
}

/** Every public base table with its copyable columns, in column order, and its size on disk. */
async function sourceTables(tx: SQL): Promise<(SourceTable & { bytes: number })[]> {
  const rows = await tx<{ t: string; c: string; type: string; nullable: boolean; bytes: string }[]>`
    SELECT c.relname AS t, a.attname AS c, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
           pg_catalog.pg_table_size(c.oid) AS bytes
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
     WHERE n.nspname = 'public' AND c.relkind = 'r'
     ORDER BY c.relname, a.attnum`;
  const tables = new Map<string, SourceTable & { bytes: number }>();
  for (const r of rows) {
    const t = tables.get(r.t) ?? { name: r.t, columns: [], bytes: Number(r.bytes) };
    t.columns.push({ name: r.c, type: r.type, nullable: r.nullable });
    tables.set(r.t, t);
  }
  return [...tables.values()];
}

interface Stream {
  /** Source bytes it reads (for the order: largest first). */
  bytes: number;
  run(): Promise<void>;
}

/** Runs `streams`, at most `jobs` at once, largest first; the first failure stops new ones. */
async function runStreams(streams: Stream[], jobs: number): Promise<void> {
  const queue = [...streams].sort((a, b) => b.bytes - a.bytes);
  let failed = false;
  const worker = async () => {
    for (let s = queue.shift(); s && !failed; s = queue.shift()) {
      try {
        await s.run();
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(jobs, queue.length) }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (rejected) throw rejected.reason;
}

/** The post-data archive (DDL only) into `path`: pg_restore -j must seek, a pipe cannot. */
async function savePostData(cmd: Command, path: string, signal: AbortSignal | undefined): Promise<void> {
  const saved = await streamCommand(cmd, [await localFileSink(path)], signal);
  if (saved.sourceError) throw saved.sourceError;
  for (const outcome of saved.sinks.values()) if (!outcome.ok) throw outcome.error;
}

async function copyInSnapshot(
  input: AnonymizedCopyInput,
  snapshot: string,
  plan: CopyPlan,
  sizes: Map<string, number>,
): Promise<AnonymizedCopyReport> {
  const { sourceLogin: src, owner, sourceDb, targetDb, pgBinDir, signal } = input;
  const jobs = Math.max(1, input.jobs ?? defaultCopyJobs());
  const report: AnonymizedCopyReport = { tables: [], skipped: plan.skipped, bytes: 0 };
  // -Z0: compressing for a local pipe only burns CPU on both ends.
  const dump = (o: DumpOptions) => pgDump(src, sourceDb, { compress: 0, snapshot, pgBinDir, ...o });
  const restore = () => pgRestore(owner, targetDb, { pgBinDir });
  const excluded = plan.transformed.map((t) => t.table);
  // Per copy, never stored: the fakes of two copies cannot be matched against each other.
  const settings: Record<string, string> = { [ANON_KEY_SETTING]: randomBytes(32).toString("hex") };
  if (plan.devPassword) settings[DEV_PASSWORD_SETTING] = odooPasswordHash(input.devPassword);
  const scratch = await mkdtemp(join(tmpdir(), "odooops-copy-"));
  try {
    const postData = join(scratch, "post-data.dump");
    // Where a copy's time goes, in its log: schema, rows (the streams), indexes.
    let t0 = performance.now();
    const took = () => {
      const seconds = Number(((performance.now() - t0) / 1000).toFixed(2));
      t0 = performance.now();
      return seconds;
    };
    // Both only read the catalog in the snapshot: at the same time.
    await Promise.all([
      savePostData(dump({ sections: ["post-data"] }), postData, signal),
      runPipe(dump({ sections: ["pre-data"] }), restore(), { signal }),
    ]);
    input.log.info("copy: schema loaded", { seconds: took() });
    const total = [...sizes.values()].reduce((n, b) => n + b, 0);
    const streams: Stream[] = [
      {
        bytes: total - excluded.reduce((n, t) => n + (sizes.get(t) ?? 0), 0),
        run: async () => {
          await runPipe(dump({ sections: ["data"], excludeTableData: excluded }), restore(), { signal });
        },
      },
      ...plan.transformed.map((t) => ({
        bytes: sizes.get(t.table) ?? 0,
        run: async () => {
          const r = await runPipe(
            copyOut(src, sourceDb, snapshot, t.select, settings, pgBinDir),
            copyIn(owner, targetDb, t.table, t.columns, pgBinDir),
            { signal },
          );
          const rows = copiedRows(r.stdout) ?? 0;
          report.tables.push({ table: t.table, rows, columns: t.changed });
          input.log.info("table copied anonymized", {
            table: t.table,
            rows,
            columns: t.changed.join(","),
            attachments: t.attachments,
          });
        },
      })),
    ];
    await runStreams(streams, jobs);
    input.log.info("copy: rows loaded", { streams: streams.length, jobs, seconds: took() });
    await run(pgRestore(owner, targetDb, { pgBinDir, file: postData, jobs }), { signal });
    input.log.info("copy: indexes and constraints built", { jobs, seconds: took() });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  // In the rules' order, whatever order the streams finished in.
  report.tables.sort((a, b) => excluded.indexOf(a.table) - excluded.indexOf(b.table));
  report.bytes = await withTenant({ ...owner, database: targetDb }, async (sql) => {
    const [row] = await sql<{ n: string }[]>`SELECT pg_catalog.pg_database_size(current_database()) AS n`;
    return Number(row?.n ?? 0);
  });
  return report;
}

/** See the file comment. On failure the caller drops the target database. */
export async function copyAnonymized(input: AnonymizedCopyInput): Promise<AnonymizedCopyReport> {
  return withTenant({ ...input.sourceLogin, database: input.sourceDb }, (sql) =>
    sql.begin("isolation level repeatable read read only", async (tx) => {
      const [snap] = await tx<{ id: string }[]>`SELECT pg_export_snapshot() AS id`;
      const tables = await sourceTables(tx);
      const plan = planCopy(input.rules, tables);
      return copyInSnapshot(input, snap?.id ?? "", plan, new Map(tables.map((t) => [t.name, t.bytes])));
    }),
  );
}
