/**
 * Env database operations on the admin connection. Values travel as parameters; DDL (which
 * PostgreSQL cannot parametrize) uses validated identifiers and escaped literals only.
 * Every op is idempotent so a resumed job step can simply run it again.
 */
import type { SQL } from "bun";
import { Conflict, Invalid } from "../../errors";
import { Secrets } from "../../log";
import { assertIdent, quoteIdent, quoteLiteral, scramVerifier } from "./quote";

const DUPLICATE_OBJECT = "42710";
const DUPLICATE_DATABASE = "42P04";

function sqlState(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "errno" in e ? String((e as { errno: unknown }).errno) : undefined;
}

/** quoteLiteral is only safe when backslashes are not escapes. */
async function assertStandardStrings(sql: SQL): Promise<void> {
  const [row] = await sql<{ v: string }[]>`SELECT current_setting('standard_conforming_strings') AS v`;
  if (row?.v !== "on") throw new Invalid("standard_conforming_strings must be on");
}

/**
 * Creates a login role without any admin power, or resets the password of the existing one.
 * Refuses to touch a superuser (a name clash with e.g. `postgres` must never be "fixed").
 */
export async function createRole(sql: SQL, name: string, password: string): Promise<"created" | "updated"> {
  const ident = quoteIdent(name, "role");
  Secrets.add(password);
  await assertStandardStrings(sql);
  const attrs = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${quoteLiteral(scramVerifier(password))}`;
  const [existing] = await sql<{ rolsuper: boolean }[]>`SELECT rolsuper FROM pg_roles WHERE rolname = ${name}`;
  if (existing?.rolsuper) throw new Conflict(`role ${name} exists and is a superuser; odooops will not modify it`);
  let result: "created" | "updated" = "updated";
  if (!existing) {
    try {
      await sql.unsafe(`CREATE ROLE ${ident} WITH ${attrs}`);
      result = "created";
    } catch (e) {
      if (sqlState(e) !== DUPLICATE_OBJECT) throw e;
    }
  }
  if (result === "updated") await sql.unsafe(`ALTER ROLE ${ident} WITH ${attrs}`);
  await adminMemberOf(sql, name);
  return result;
}

/**
 * A second login for `owner`'s sessions: `alias` logs in with its own password, is a member of
 * `owner` and starts every session as `owner` (`SET role` at login), so what Odoo creates or
 * reads through it is `owner`'s exactly as before. Lets a password rotation keep the old login
 * working while the new one already serves (src/deploy/rotate-credentials.ts: a restart of the release beside itself, so it lives with the release code).
 */
export async function createLoginAlias(sql: SQL, alias: string, owner: string, password: string): Promise<void> {
  await createRole(sql, alias, password);
  const a = quoteIdent(alias, "role");
  const o = quoteIdent(owner, "role");
  await sql.unsafe(`GRANT ${o} TO ${a}`);
  await sql.unsafe(`ALTER ROLE ${a} SET role = ${quoteLiteral(assertIdent(owner, "role"))}`);
}

/**
 * A non-superuser admin (init's CREATEDB CREATEROLE role) may only make `name` own a database,
 * and drop it later, as a member of `name`; a superuser needs nothing.
 */
async function adminMemberOf(sql: SQL, name: string): Promise<void> {
  const [me] = await sql<{ rolsuper: boolean; member: boolean }[]>`
    SELECT rolsuper, pg_has_role(current_user, ${name}, 'MEMBER') AS member FROM pg_roles WHERE rolname = current_user`;
  if (me && !me.rolsuper && !me.member) await sql.unsafe(`GRANT ${quoteIdent(name, "role")} TO CURRENT_USER`);
}

/**
 * Creates the database owned by `owner` (template0, UTF8, C collation: what Odoo expects and what
 * restores of any dump need), then restricts CONNECT to the owner. An existing database with
 * another owner is a Conflict: it is not ours to take over.
 */
export async function createDatabase(sql: SQL, name: string, owner: string): Promise<"created" | "exists"> {
  const db = quoteIdent(name, "database");
  const role = quoteIdent(owner, "role");
  let result: "created" | "exists" = "exists";
  const [existing] = await sql<{ owner: string }[]>`
    SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ${name}`;
  if (!existing) {
    try {
      await sql.unsafe(
        `CREATE DATABASE ${db} WITH OWNER ${role} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`,
      );
      result = "created";
    } catch (e) {
      if (sqlState(e) !== DUPLICATE_DATABASE) throw e;
    }
  }
  if (result === "exists") {
    const [row] = await sql<{ owner: string }[]>`
      SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ${name}`;
    if (row?.owner !== owner) throw new Conflict(`database ${name} exists and is owned by ${row?.owner}, not ${owner}`);
  }
  await restrictDatabase(sql, name, owner);
  return result;
}

/** Only `owner` (and superusers) may connect: env A's role can never open env B's database. */
export async function restrictDatabase(sql: SQL, name: string, owner: string): Promise<void> {
  const db = quoteIdent(name, "database");
  await sql.unsafe(`REVOKE CONNECT, TEMPORARY ON DATABASE ${db} FROM PUBLIC`);
  await sql.unsafe(`GRANT CONNECT, TEMPORARY ON DATABASE ${db} TO ${quoteIdent(owner, "role")}`);
}

/**
 * The application_name of the admin session that creates the copy `db`. A crashed daemon leaves
 * that session's `CREATE DATABASE … TEMPLATE` running server-side (connected to `postgres`, not to
 * the copy, and invisible until it commits): this name is how a later cleanup finds and ends it.
 */
export function copyApplicationName(db: string): string {
  // PostgreSQL keeps 63 bytes of it; ours are ASCII.
  return `odooops copy ${assertIdent(db, "database")}`.slice(0, 63);
}

/** How long pg_terminate_backend waits for each session to be gone. */
const TERMINATE_WAIT_MS = 10_000;

/**
 * Ends every session on database `name`, every session still creating it (by its
 * copyApplicationName) and, with `role`, every session of that role on any database — e.g. a
 * pg_restore or an Odoo a killed daemon left behind. Waits until each is gone.
 */
export async function terminateSessions(sql: SQL, name: string, role?: string): Promise<number> {
  const app = copyApplicationName(name);
  const rows = await sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity
    WHERE pid <> pg_backend_pid() AND (datname = ${name} OR application_name = ${app} OR usename = ${role ?? null})`;
  for (const r of rows) await sql`SELECT pg_terminate_backend(${r.pid}::int, ${TERMINATE_WAIT_MS}::bigint)`;
  return rows.length;
}

/** Terminates the database's sessions (and any still creating it), then drops it. Missing database: no-op. */
export async function dropDatabase(sql: SQL, name: string): Promise<void> {
  const db = quoteIdent(name, "database");
  await terminateSessions(sql, name);
  // FORCE closes sessions that connected between the terminate and the drop.
  await sql.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
}

/** Missing role: no-op. Refuses superusers for the same reason as createRole. */
export async function dropRole(sql: SQL, name: string): Promise<void> {
  const ident = quoteIdent(name, "role");
  const [existing] = await sql<{ rolsuper: boolean }[]>`SELECT rolsuper FROM pg_roles WHERE rolname = ${name}`;
  if (!existing) return;
  if (existing.rolsuper) throw new Conflict(`role ${name} is a superuser; odooops will not drop it`);
  await sql.unsafe(`DROP ROLE IF EXISTS ${ident}`);
}

/**
 * Drops a throwaway role odooops created (a scratch copy's, an ownership transfer's) even when a
 * crash left it busy: its sessions on every database are ended, what it still owns or was
 * granted in the admin's database is dropped (its own databases must already be gone: DROP
 * OWNED never drops databases, so one it still owns makes DROP ROLE fail loudly), then the role.
 */
export async function dropThrowawayRole(sql: SQL, name: string): Promise<void> {
  const ident = quoteIdent(name, "role");
  const [existing] = await sql<{ rolsuper: boolean }[]>`SELECT rolsuper FROM pg_roles WHERE rolname = ${name}`;
  if (!existing) return;
  if (existing.rolsuper) throw new Conflict(`role ${name} is a superuser; odooops will not drop it`);
  await sql`SELECT pg_terminate_backend(pid, ${TERMINATE_WAIT_MS}::bigint) FROM pg_stat_activity WHERE usename = ${name} AND pid <> pg_backend_pid()`;
  await sql.unsafe(`DROP OWNED BY ${ident}`);
  await sql.unsafe(`DROP ROLE IF EXISTS ${ident}`);
}

/** Size in bytes, or null when the database does not exist. */
export async function databaseSize(sql: SQL, name: string): Promise<number | null> {
  assertIdent(name, "database");
  const [row] = await sql<{ size: string }[]>`
    SELECT pg_database_size(datname)::text AS size FROM pg_database WHERE datname = ${name}`;
  return row ? Number(row.size) : null;
}

export async function databaseExists(sql: SQL, name: string): Promise<boolean> {
  const [row] = await sql`SELECT 1 FROM pg_database WHERE datname = ${name}`;
  return row !== undefined;
}

export async function roleExists(sql: SQL, name: string): Promise<boolean> {
  const [row] = await sql`SELECT 1 FROM pg_roles WHERE rolname = ${name}`;
  return row !== undefined;
}

/** Database names starting with `prefix` (e.g. "odoo_"), sorted. */
export async function listDatabases(sql: SQL, prefix = ""): Promise<string[]> {
  const rows = await sql<{ datname: string }[]>`
    SELECT datname FROM pg_database WHERE NOT datistemplate AND starts_with(datname, ${prefix}) ORDER BY datname`;
  return rows.map((r) => r.datname);
}

/** Role names starting with `prefix`, sorted. */
export async function listRoles(sql: SQL, prefix = ""): Promise<string[]> {
  const rows = await sql<{ rolname: string }[]>`
    SELECT rolname FROM pg_roles WHERE starts_with(rolname, ${prefix}) ORDER BY rolname`;
  return rows.map((r) => r.rolname);
}
