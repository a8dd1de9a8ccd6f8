/**
 * Copying one env's database to a new database on the same server, two ways:
 *   template: `CREATE DATABASE … TEMPLATE src` — a file-level copy, the fastest, but PostgreSQL
 *             refuses it while anyone is connected to the source (so: non-production sources
 *             whose env is stopped or idle); ownership is then moved to the target role.
 *   stream:   `pg_dump -Fc -Z0 src | pg_restore --role=<owner>` through memory — no temp file,
 *             no downtime, works with the source in use (pg_dump reads one snapshot).
 * "auto" tries template only when no session is connected, and falls back to stream if
 * PostgreSQL still refuses; the result says which path ran and why.
 * Anonymized (`anonymize` given): always streamed, the ruled tables' rows transformed on the way
 * (anonymize/copy.ts) — a template copy would put the source's pages on the copy's disk.
 * The target database must not exist; on failure it is dropped.
 * Nothing inside the source or the copy runs as the admin: pg_dump logs in as the source's role,
 * the ownership transfer runs as a throwaway role (see transferOwnership).
 */
import type { SQL } from "bun";
import { randomBytes } from "node:crypto";
import { rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { Conflict, Invalid } from "../../errors";
import { pgAdmin } from "../../host/postgres/connect";
import {
  copyApplicationName,
  createDatabase,
  createRole,
  databaseExists,
  dropDatabase,
  dropThrowawayRole,
  restrictDatabase,
} from "../../host/postgres/ops";
import { assertIdent, quoteIdent, quoteLiteral } from "../../host/postgres/quote";
import { withTenant, type TenantLogin } from "../../host/postgres/tenant";
import type { Logger } from "../../log";
import { copyAnonymized, type AnonymizedCopyReport } from "../anonymize/copy";
import type { AnonymizeRules } from "./anonymize";
import { XFER_PREFIX } from "../copies/names";
import { pgDump, pgRestore, type PgAdmin } from "./commands";
import { streamCommand } from "./pump";
import { processSink } from "./sinks";
import { copyTenantDir, FILESTORE_TENANT_DEPTH, openTenantDir } from "./tenant-dir";

export type CloneMethod = "template" | "stream";

export interface CloneInput {
  /** The admin: creates and drops databases and roles, never opens the source or the copy. */
  pg: PgAdmin;
  /** The role that owns the source database (the source env's): pg_dump logs in as it. */
  sourceLogin: Omit<TenantLogin, "database">;
  sourceDb: string;
  targetDb: string;
  /**
   * The target env's role (must exist): it owns the copy, and a streamed copy is restored logged
   * in as it (the source is another tenant's data, never loaded with admin rights).
   */
  owner: Omit<TenantLogin, "database">;
  method?: CloneMethod | "auto";
  /**
   * Anonymize while copying: the rules, the copy's own password for every user, and how many
   * streams at once (default: the host's cores, at least 2).
   */
  anonymize?: { rules: AnonymizeRules; devPassword: string; jobs?: number };
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
  /** Per table rows transformed (anonymized copies only). */
  anonymized: AnonymizedCopyReport | null;
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
 * Gives the source role's objects in the copy's public schema to `owner`. Not REASSIGN OWNED:
 * that would also hand over the source role's shared objects — the source database itself.
 * ALTER … OWNER needs membership in the old and the new owner, so it runs as a throwaway login
 * role granted both for the moment and dropped after — not the admin, whose session inside the
 * copy would run whatever the source tenant left there with superuser rights.
 */
async function transferOwnership(admin: SQL, input: CloneInput): Promise<void> {
  const from = assertIdent(input.sourceLogin.user, "role");
  const to = assertIdent(input.owner.user, "role");
  if (from === to) return;
  const xfer = `${XFER_PREFIX}${randomBytes(6).toString("hex")}`;
  const password = randomBytes(24).toString("base64url");
  await createRole(admin, xfer, password);
  try {
    await admin.unsafe(`GRANT ${quoteIdent(from)}, ${quoteIdent(to)} TO ${quoteIdent(xfer)}`);
    const login = {
      host: input.sourceLogin.host,
      port: input.sourceLogin.port,
      user: xfer,
      password,
      database: input.targetDb,
    };
    await withTenant(login, (sql) => sql.unsafe(transferSql(quoteLiteral(from), quoteLiteral(to))));
  } finally {
    await dropThrowawayRole(admin, xfer);
  }
}

function transferSql(from: string, to: string): string {
  return `
DO $$
DECLARE r record;
BEGIN
  IF pg_get_userbyid((SELECT nspowner FROM pg_namespace WHERE nspname = 'public')) = ${from} THEN
    EXECUTE format('ALTER SCHEMA public OWNER TO %I', ${to});
  END IF;
  -- Tables first: ALTER TABLE also moves the sequences their columns own.
  FOR r IN SELECT c.oid::regclass AS obj, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
             AND pg_get_userbyid(c.relowner) = ${from} LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
      r.obj, ${to});
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS obj FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind = 'S' AND pg_get_userbyid(c.relowner) = ${from} LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', r.obj, ${to});
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS obj, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) = ${from}
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I', CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.obj, ${to});
  END LOOP;
  FOR r IN SELECT t.oid::regtype AS obj FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') AND pg_get_userbyid(t.typowner) = ${from}
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e') LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO %I', r.obj, ${to});
  END LOOP;
END $$`;
}

async function cloneByTemplate(admin: SQL, input: CloneInput): Promise<void> {
  await admin.unsafe(
    `CREATE DATABASE ${quoteIdent(input.targetDb, "database")} WITH TEMPLATE ${quoteIdent(input.sourceDb, "database")} OWNER ${quoteIdent(input.owner.user, "role")}`,
  );
  await restrictDatabase(admin, input.targetDb, input.owner.user);
  await transferOwnership(admin, input);
}

async function cloneByStream(admin: SQL, input: CloneInput): Promise<number> {
  await createDatabase(admin, input.targetDb, input.owner.user);
  const restore = processSink(pgRestore(input.owner, input.targetDb, { pgBinDir: input.pgBinDir }), input.signal);
  // -Z0: compressing for a local pipe only burns CPU on both ends.
  const r = await streamCommand(
    pgDump(input.sourceLogin, input.sourceDb, { compress: 0, pgBinDir: input.pgBinDir }),
    [restore],
    input.signal,
  );
  if (r.sourceError) throw r.sourceError;
  const outcome = r.sinks.get(restore);
  if (!outcome || !outcome.ok) throw outcome?.error ?? new Error("pg_restore did not finish");
  return r.bytes;
}

async function cloneAnonymized(
  admin: SQL,
  input: CloneInput,
  anonymize: NonNullable<CloneInput["anonymize"]>,
): Promise<AnonymizedCopyReport> {
  await createDatabase(admin, input.targetDb, input.owner.user);
  return copyAnonymized({ ...input, ...anonymize });
}

export async function cloneDatabase(input: CloneInput): Promise<CloneResult> {
  // Tagged: after a crash, a cleanup finds a CREATE DATABASE still running in this session.
  const admin = pgAdmin(input.pg, copyApplicationName(input.targetDb));
  const t0 = performance.now();
  const clog = input.log.tag({ clone: `${input.sourceDb}→${input.targetDb}` });
  let created = false;
  try {
    assertIdent(input.sourceDb, "database");
    assertIdent(input.targetDb, "database");
    if (input.sourceDb === input.targetDb) throw new Conflict("clone: source and target are the same database");
    if (await databaseExists(admin, input.targetDb)) throw new Conflict(`database ${input.targetDb} already exists`);
    const wanted = input.method ?? "auto";
    if (input.anonymize && wanted === "template") {
      throw new Invalid(
        "an anonymized copy cannot be a template copy (it would copy the source's data pages); use --method stream or auto",
      );
    }
    let method: CloneMethod = "stream";
    let reason = input.anonymize ? "anonymized: rows transformed while streamed" : "requested";
    if (wanted === "template") method = "template";
    else if (wanted === "auto" && !input.anonymize) {
      const n = await sourceSessions(admin, input.sourceDb);
      method = n === 0 ? "template" : "stream";
      reason = n === 0 ? "no session on the source: file-level copy" : `${n} session(s) on the source: streaming dump`;
    }
    let bytes: number | null = null;
    let anonymized: AnonymizedCopyReport | null = null;
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
      if (input.anonymize) {
        anonymized = await cloneAnonymized(admin, input, input.anonymize);
        bytes = anonymized.bytes;
      } else bytes = await cloneByStream(admin, input);
    }
    const seconds = Number(((performance.now() - t0) / 1000).toFixed(2));
    clog.info("database cloned", { method, reason, bytes, seconds });
    return { method, reason, bytes, seconds, anonymized };
  } catch (e) {
    if (created) await dropDatabase(admin, input.targetDb).catch(() => undefined);
    throw e;
  } finally {
    await admin.close();
  }
}

/**
 * Copies a filestore directory into `targetDir` (which must not exist). Never hard links: the
 * copy belongs to another env, whose code could otherwise rewrite the source's files (Odoo
 * rewrites asset bundles in place). Copy-on-write where the filesystem has it, a real copy
 * elsewhere (tenant-dir.ts); symbolic links in the source are not copied. Null (nothing
 * created) when the source has no filestore.
 */
export async function copyFilestore(
  sourceDir: string,
  targetDir: string,
): Promise<{ files: number; skipped: string[] } | null> {
  if (
    await stat(targetDir).then(
      () => true,
      () => false,
    )
  )
    throw new Conflict(`${targetDir} already exists`);
  // The target env's `filestore` is its tenant's too: a link there would take the copy elsewhere.
  openTenantDir(dirname(targetDir), 1)?.close();
  const source = openTenantDir(sourceDir, FILESTORE_TENANT_DEPTH);
  if (!source) return null;
  try {
    return await copyTenantDir(source, targetDir);
  } catch (e) {
    await rm(targetDir, { recursive: true, force: true });
    throw e;
  } finally {
    source.close();
  }
}
