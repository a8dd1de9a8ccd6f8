/**
 * The instant of a restore: the verified new database takes the env's database name, the staged
 * filestore takes the env's filestore path. Both old ones are kept under a new name until the
 * caller has health-checked the env (then drops them, or keeps them with --keep-old). Calling
 * the same function again with the names exchanged undoes a swap.
 */
import type { SQL } from "bun";
import { rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Conflict, NotFound, Unavailable } from "../../errors";
import { databaseExists } from "../../host/postgres/ops";
import { assertIdent, quoteIdent } from "../../host/postgres/quote";

export interface SwapDatabasesOptions {
  /** The env's database name (may not exist: then the replacement simply takes the name). */
  current: string;
  /** The restored database. */
  replacement: string;
  /** Name the current database is kept under; default `<current>_old_<base36 time>` (≤ 63 chars). */
  previousName?: string;
  /** How long to wait for terminated sessions to go away. */
  timeoutMs?: number;
}

export function previousDbName(current: string, now = Date.now()): string {
  return `${current.slice(0, 50)}_old_${now.toString(36)}`;
}

async function sessions(sql: SQL, names: string[]): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname IN ${sql(names)} AND pid <> pg_backend_pid()`;
  return row?.n ?? 0;
}

async function allowConnections(sql: SQL, name: string, allow: boolean): Promise<void> {
  if (await databaseExists(sql, name))
    await sql.unsafe(`ALTER DATABASE ${quoteIdent(name, "database")} WITH ALLOW_CONNECTIONS ${allow}`);
}

/**
 * Renames `current` → previous and `replacement` → `current` in ONE transaction (PostgreSQL
 * allows ALTER DATABASE RENAME in a transaction block): either both renames happen or neither.
 * Renames need the databases to be idle, so new connections are refused first (a restarting
 * Odoo cannot sneak back in between), sessions terminated, and connections allowed again after.
 * Grants and the REVOKE from PUBLIC follow the database, not its name.
 */
export async function swapDatabases(sql: SQL, opts: SwapDatabasesOptions): Promise<{ previous: string | null }> {
  const current = assertIdent(opts.current, "database");
  const replacement = assertIdent(opts.replacement, "database");
  const previous = assertIdent(opts.previousName ?? previousDbName(current), "database");
  if (current === replacement) throw new Conflict("swapDatabases: current and replacement are the same database");
  if (!(await databaseExists(sql, replacement))) throw new NotFound(`database ${replacement} does not exist`);
  const hasCurrent = await databaseExists(sql, current);
  if (hasCurrent && (await databaseExists(sql, previous))) throw new Conflict(`database ${previous} already exists`);
  const names = hasCurrent ? [current, replacement] : [replacement];
  let swapped = false;
  try {
    for (const n of names) await allowConnections(sql, n, false);
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    for (;;) {
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN ${sql(names)} AND pid <> pg_backend_pid()`;
      if ((await sessions(sql, names)) === 0) break;
      if (Date.now() > deadline) throw new Unavailable(`sessions on ${names.join(", ")} did not end`);
      await Bun.sleep(100);
    }
    await sql.begin(async (tx) => {
      if (hasCurrent) await tx.unsafe(`ALTER DATABASE ${quoteIdent(current)} RENAME TO ${quoteIdent(previous)}`);
      await tx.unsafe(`ALTER DATABASE ${quoteIdent(replacement)} RENAME TO ${quoteIdent(current)}`);
    });
    swapped = true;
  } finally {
    // Whatever happened, no database is left refusing connections.
    const after = swapped ? [current, ...(hasCurrent ? [previous] : [])] : names;
    for (const n of after) await allowConnections(sql, n, true);
  }
  return { previous: hasCurrent ? previous : null };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Puts `stagedDir` at `targetDir`; the old `targetDir` (if any) is renamed beside it and
 * returned. Both must be on one filesystem (restoreBackup stages next to the target).
 */
export async function swapFilestore(
  targetDir: string,
  stagedDir: string,
  now = Date.now(),
): Promise<{ previousDir: string | null }> {
  if (!(await exists(stagedDir))) throw new NotFound(`staged filestore ${stagedDir} does not exist`);
  let previousDir: string | null = null;
  if (await exists(targetDir)) {
    previousDir = join(dirname(targetDir), `.${basename(targetDir)}.old-${now.toString(36)}`);
    await rename(targetDir, previousDir);
  }
  try {
    await rename(stagedDir, targetDir);
  } catch (e) {
    if (previousDir) await rename(previousDir, targetDir);
    throw e;
  }
  return { previousDir };
}

/** Removes a staged or previous filestore dir (recursive; missing is fine). */
export async function discardDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
