/**
 * Applying pg_hba changes to a live server: write atomically (same owner and mode, so the
 * postmaster can still read it), let PostgreSQL parse the file (pg_hba_file_rules) BEFORE the
 * reload, and put the previous file back on any error. A bad file is never loaded.
 */
import type { SQL } from "bun";
import { chownSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync, rmSync } from "node:fs";
import { dirname, join, basename } from "node:path";
import { Invalid } from "../../errors";
import { removeHbaEntryText, upsertHbaEntry, type HbaEntry } from "./hba";

// Read-modify-write of one file: concurrent callers in this process must not lose each other's lines.
let queue: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const next = queue.then(fn, fn);
  queue = next.catch(() => undefined);
  return next;
}

export interface HbaError {
  line: number;
  error: string;
}

/** Same owner and mode as before, so the postmaster can still read it (init uses it too). */
export function writeAtomic(file: string, text: string): void {
  const st = statSync(file);
  const tmp = join(dirname(file), `.${basename(file)}.odooops-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(tmp, text, { mode: st.mode & 0o777 });
    chownSync(tmp, st.uid, st.gid);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Lines PostgreSQL would reject in the hba file it is configured with. */
export async function hbaErrors(sql: SQL): Promise<HbaError[]> {
  const rows = await sql<{ line_number: number | null; error: string }[]>`
    SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL ORDER BY line_number`;
  return rows.map((r) => ({ line: r.line_number ?? 0, error: r.error }));
}

/** A pg_hba.conf rule as the server reads it (pg_hba_file_rules). */
export interface HbaRule {
  line: number;
  type: string;
  databases: string[];
  users: string[];
  address: string | null;
  netmask: string | null;
  auth: string;
}

/** The rules the server uses, in order (the lines it rejects are hbaErrors'). */
export async function hbaRules(sql: SQL): Promise<HbaRule[]> {
  const rows = await sql<HbaRule[]>`
    SELECT line_number AS line, type, database AS databases, user_name AS users, address, netmask, auth_method AS auth
      FROM pg_hba_file_rules WHERE error IS NULL ORDER BY line_number`;
  // Copied into plain objects, as the probe has always returned them.
  return rows.map((r) => ({ ...r }));
}

/** Refuses to edit a file the server does not read: the change would silently do nothing. */
async function assertServerFile(sql: SQL, file: string): Promise<void> {
  const [row] = await sql<{ hba: string }[]>`SELECT current_setting('hba_file') AS hba`;
  const served = row?.hba ?? "";
  if (realpathSync(served) !== realpathSync(file)) {
    throw new Invalid(`postgres.hbaFile is ${file} but the server reads ${served}`);
  }
}

/**
 * Replaces the whole file with `text`, validates, reloads. On validation errors the previous
 * content is restored and Invalid is thrown with PostgreSQL's messages.
 */
export async function replaceHbaFile(sql: SQL, file: string, text: string): Promise<void> {
  await assertServerFile(sql, file);
  const previous = readFileSync(file, "utf8");
  if (previous === text) return;
  writeAtomic(file, text);
  let errors: HbaError[];
  try {
    errors = await hbaErrors(sql);
  } catch (e) {
    writeAtomic(file, previous);
    throw e;
  }
  if (errors.length > 0) {
    writeAtomic(file, previous);
    // Belt and braces: the server never saw the bad file, but reloading the restored one is harmless.
    await sql`SELECT pg_reload_conf()`;
    const detail = errors.map((e) => `line ${e.line}: ${e.error}`).join("; ");
    throw new Invalid(`pg_hba change rejected by PostgreSQL, previous file restored: ${detail}`, { errors });
  }
  await sql`SELECT pg_reload_conf()`;
}

/** Allows `entry.role` to reach `entry.db` from `entry.cidr` (scram). No-op when `file` is "" (unmanaged). */
export async function setHbaEntry(sql: SQL, file: string, entry: HbaEntry): Promise<void> {
  if (file === "") return;
  await serialized(() => replaceHbaFile(sql, file, upsertHbaEntry(readFileSync(file, "utf8"), entry)));
}

/** Removes the entry for `db`. No-op when `file` is "" or there is no entry. */
export async function removeHbaEntry(sql: SQL, file: string, db: string): Promise<void> {
  if (file === "") return;
  await serialized(() => replaceHbaFile(sql, file, removeHbaEntryText(readFileSync(file, "utf8"), db)));
}
