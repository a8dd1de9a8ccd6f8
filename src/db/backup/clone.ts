/**
 * Copying one env's database to a new database on the same server, two ways:
 *   template: `CREATE DATABASE … TEMPLATE src` — a file-level copy, the fastest, but PostgreSQL
 *             refuses it while anyone is connected to the source (so: non-production sources
 *             whose env is stopped or idle); ownership is then moved to the target role.
 *   stream:   `pg_dump -Fc -Z0 src | pg_restore --role=<owner>` through memory — no temp file,
 *             no downtime, works with the source in use (pg_dump reads one snapshot).
 * "auto" tries template only when no session is connected, and falls back to stream if
 * PostgreSQL still refuses; the result says which path ran and why.
 * The target database must not exist; on failure it is dropped.
 */
import type { SQL } from "bun";
import { rm, stat } from "node:fs/promises";
import { Conflict } from "../../errors";
import { run } from "../../exec/run";
import { pgConnect } from "../../host/postgres/connect";
import { createDatabase, databaseExists, dropDatabase, restrictDatabase } from "../../host/postgres/ops";
import { assertIdent, quoteIdent, quoteLiteral } from "../../host/postgres/quote";
import { tenantTarget, type RoleLogin } from "../../host/postgres/tenant";
import type { Logger } from "../../log";
import { pgDump, pgRestore, type PgAdmin } from "./commands";
import { streamCommand } from "./pump";
import { processSink } from "./sinks";

export type CloneMethod = "template" | "stream";

export interface CloneInput {
  pg: PgAdmin;
  sourceDb: string;
  targetDb: string;
  /**
   * The target env's role (must exist): it owns the copy, and a streamed copy is restored logged
   * in as it (the source is another tenant's data, never loaded with admin rights).
   */
  owner: RoleLogin;
  method?: CloneMethod | "auto";
  log: Logger;
  signal?: AbortSignal;
  pgBinDir?: string;
}

export interface CloneResult {
  method: CloneMethod;
  /** Why this method was used (for the job log / CLI). */
  reason: string;
  /** Bytes that went through the pipe (stream only). */
  bytes: number | null;
  seconds: number;
}

const OBJECT_IN_USE = "55006";

function sqlState(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "errno" in e ? String((e as { errno: unknown }).errno) : undefined;
}

async function sourceSessions(sql: SQL, db: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${db} AND pid <> pg_backend_pid()`;
  return row?.n ?? 0;
}

/**
 * Gives every object in the copy's public schema to `owner`. Not REASSIGN OWNED: that would
 * also hand over the source role's shared objects — the source database itself.
 */
async function transferOwnership(pg: PgAdmin, db: string, owner: string): Promise<void> {
  const sql = pgConnect({ ...pg, database: db });
  const to = quoteLiteral(assertIdent(owner, "role"));
  try {
    await sql.unsafe(`
DO $$
DECLARE r record;
BEGIN
  -- Tables first: ALTER TABLE also moves the sequences their columns own.
  FOR r IN SELECT c.oid::regclass AS obj, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
             AND pg_get_userbyid(c.relowner) <> ${to} LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
      r.obj, ${to});
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS obj FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind = 'S' AND pg_get_userbyid(c.relowner) <> ${to} LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', r.obj, ${to});
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS obj, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> ${to}
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I', CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.obj, ${to});
  END LOOP;
  FOR r IN SELECT t.oid::regtype AS obj FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') AND pg_get_userbyid(t.typowner) <> ${to}
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e') LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO %I', r.obj, ${to});
  END LOOP;
END $$`);
  } finally {
    await sql.close();
  }
}

async function cloneByTemplate(admin: SQL, input: CloneInput): Promise<void> {
  await admin.unsafe(
    `CREATE DATABASE ${quoteIdent(input.targetDb, "database")} WITH TEMPLATE ${quoteIdent(input.sourceDb, "database")} OWNER ${quoteIdent(input.owner.user, "role")}`,
  );
  await restrictDatabase(admin, input.targetDb, input.owner.user);
  await transferOwnership(input.pg, input.targetDb, input.owner.user);
}

async function cloneByStream(admin: SQL, input: CloneInput): Promise<number> {
  await createDatabase(admin, input.targetDb, input.owner.user);
  const restore = processSink(pgRestore(tenantTarget(input.pg, input.owner), input.targetDb, { pgBinDir: input.pgBinDir }), input.signal);
  // -Z0: compressing for a local pipe only burns CPU on both ends.
  const r = await streamCommand(pgDump(input.pg, input.sourceDb, { compress: 0, pgBinDir: input.pgBinDir }), [restore], input.signal);
  if (r.sourceError) throw r.sourceError;
  const outcome = r.sinks.get(restore);
  if (!outcome || !outcome.ok) throw outcome?.error ?? new Error("pg_restore did not finish");
  return r.bytes;
}

export async function cloneDatabase(input: CloneInput): Promise<CloneResult> {
  const admin = pgConnect(input.pg);
  const t0 = performance.now();
  const clog = input.log.tag({ clone: `${input.sourceDb}→${input.targetDb}` });
  let created = false;
  try {
    assertIdent(input.sourceDb, "database");
    assertIdent(input.targetDb, "database");
    if (input.sourceDb === input.targetDb) throw new Conflict("clone: source and target are the same database");
    if (await databaseExists(admin, input.targetDb)) throw new Conflict(`database ${input.targetDb} already exists`);
    const wanted = input.method ?? "auto";
    let method: CloneMethod = "stream";
    let reason = "requested";
    if (wanted === "template") method = "template";
    else if (wanted === "auto") {
      const n = await sourceSessions(admin, input.sourceDb);
      method = n === 0 ? "template" : "stream";
      reason = n === 0 ? "no session on the source: file-level copy" : `${n} session(s) on the source: streaming dump`;
    }
    let bytes: number | null = null;
    if (method === "template") {
      try {
        created = true;
        await cloneByTemplate(admin, input);
      } catch (e) {
        if (wanted !== "auto" || sqlState(e) !== OBJECT_IN_USE) throw e;
        // Someone connected between the check and CREATE DATABASE.
        await dropDatabase(admin, input.targetDb);
        method = "stream";
        reason = "source became busy: streaming dump";
      }
    }
    if (method === "stream") {
      created = true;
      bytes = await cloneByStream(admin, input);
    }
    const seconds = Number(((performance.now() - t0) / 1000).toFixed(2));
    clog.info("database cloned", { method, reason, bytes, seconds });
    return { method, reason, bytes, seconds };
  } catch (e) {
    if (created) await dropDatabase(admin, input.targetDb).catch(() => undefined);
    throw e;
  } finally {
    await admin.close();
  }
}

/**
 * Copies a filestore directory: hardlinks when on the same filesystem (Odoo never rewrites a
 * stored file: names are content hashes, so sharing inodes is safe), a real copy otherwise.
 */
export async function copyFilestore(sourceDir: string, targetDir: string): Promise<"hardlink" | "copy"> {
  if (await stat(targetDir).then(() => true, () => false)) throw new Conflict(`${targetDir} already exists`);
  const linked = await run({ argv: ["cp", "-al", "--", sourceDir, targetDir], timeoutMs: 24 * 3600_000 }, { nothrow: true });
  if (linked.exitCode === 0) return "hardlink";
  await rm(targetDir, { recursive: true, force: true });
  await run({ argv: ["cp", "-a", "--", sourceDir, targetDir], timeoutMs: 24 * 3600_000 });
  return "copy";
}
