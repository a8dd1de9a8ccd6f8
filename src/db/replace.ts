/**
 * Replacing an env's database and filestore with a prepared copy (restore and clone share it).
 * Every name is derived from a token fixed when the job is enqueued, so a job resumed after a
 * crash finds exactly what an earlier attempt left, and each move below checks where things are
 * before acting: running it twice, or after a kill -9 between two renames, is safe.
 *
 *   <db>_new_<token>   the copy, prepared beside the live database
 *   <db>_old_<token>   the live database once swapped out (dropped at the end unless kept)
 *   .<db>.restore-<db>_new_<token>   the copy's filestore, staged beside the live one
 *   .<db>.old-<token>                the live filestore once swapped out
 */
import type { SQL } from "bun";
import { randomBytes } from "node:crypto";
import { rename, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { NotFound } from "../errors";
import { databaseExists } from "../host/postgres/ops";
import { restoreScratch } from "./backup/restore";
import { swapDatabases } from "./backup/swap";

export interface ReplaceNames {
  /** The env's database name. */
  db: string;
  newDb: string;
  oldDb: string;
  /** `<dataDir>/filestore/<db>`: what Odoo uses. */
  filestoreDir: string;
  stagedDir: string;
  previousDir: string;
}

/** 8 characters of [a-z0-9]: short enough for 63-character database names. */
export function newReplaceToken(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(8)].map((b) => alphabet[b % alphabet.length]).join("");
}

export function replaceNames(dbName: string, dataDir: string, token: string): ReplaceNames {
  const base = dbName.slice(0, 50);
  const newDb = `${base}_new_${token}`;
  const filestoreDir = join(dataDir, "filestore", dbName);
  return {
    db: dbName,
    newDb,
    oldDb: `${base}_old_${token}`,
    filestoreDir,
    // The name restoreBackup stages under, so its own cleanup (cleanupRestore) finds it too.
    stagedDir: restoreScratch({ newDbName: newDb, filestoreTargetDir: filestoreDir, workDir: dataDir }).stagedDir,
    previousDir: join(dirname(filestoreDir), `.${basename(filestoreDir)}.old-${token}`),
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export interface SwapOutcome {
  database: "swapped" | "already swapped";
  filestore: "swapped" | "already swapped";
  /** The env had no filestore before (nothing kept aside). */
  hadFilestore: boolean;
}

/** The copy takes the env's names; the live database and filestore move aside. */
export async function swapIn(admin: SQL, n: ReplaceNames): Promise<SwapOutcome> {
  let database: SwapOutcome["database"] = "already swapped";
  if (await databaseExists(admin, n.newDb)) {
    await swapDatabases(admin, { current: n.db, replacement: n.newDb, previousName: n.oldDb });
    database = "swapped";
  } else if (!(await databaseExists(admin, n.db))) {
    throw new NotFound(`neither the prepared database ${n.newDb} nor ${n.db} exists`);
  }
  let filestore: SwapOutcome["filestore"] = "already swapped";
  if (await exists(n.stagedDir)) {
    // A crash between the two renames leaves the live one aside and no filestore in place.
    if (await exists(n.filestoreDir)) await rename(n.filestoreDir, n.previousDir);
    await rename(n.stagedDir, n.filestoreDir);
    filestore = "swapped";
  }
  return { database, filestore, hadFilestore: await exists(n.previousDir) };
}

export interface SwapBackOutcome {
  database: "restored" | "untouched";
  filestore: "restored" | "untouched";
}

/**
 * Undoes swapIn: the env gets its old database and filestore back, the copy returns to its
 * prepared names (for the caller to discard). A no-op for whatever was never swapped.
 */
export async function swapBack(admin: SQL, n: ReplaceNames): Promise<SwapBackOutcome> {
  let database: SwapBackOutcome["database"] = "untouched";
  if (!(await databaseExists(admin, n.newDb)) && (await databaseExists(admin, n.oldDb))) {
    await swapDatabases(admin, { current: n.db, replacement: n.oldDb, previousName: n.newDb });
    database = "restored";
  }
  let filestore: SwapBackOutcome["filestore"] = "untouched";
  if (
    !(await exists(n.stagedDir)) &&
    (await exists(n.filestoreDir)) &&
    ((await exists(n.previousDir)) || database === "restored")
  ) {
    await rename(n.filestoreDir, n.stagedDir);
    filestore = "restored";
  }
  if ((await exists(n.previousDir)) && !(await exists(n.filestoreDir))) {
    await rename(n.previousDir, n.filestoreDir);
    filestore = "restored";
  }
  return { database, filestore };
}
