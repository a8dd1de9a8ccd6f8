/**
 * Where state backups live: `<backups dir>/_state/<id>.odooops-state` locally and
 * `<prefix>_state/<id>.odooops-state` in S3. "_state" can never be an env slug (slugs start with
 * [a-z0-9]), so env backups and state backups never share a folder. Each store lists, reads,
 * writes and deletes only files whose whole name is a state backup id plus the suffix.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Invalid, NotFound } from "../errors";
import { openS3, s3Key, type S3Target } from "../host/s3";

export const STATE_DIR = "_state";
export const SUFFIX = ".odooops-state";
const ID = /^state-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-[a-z0-9]{6}$/;

export interface StoredStateBackup {
  id: string;
  createdAt: string;
  size: number;
}

export interface StateBackupStore {
  /** "local" or "s3", shown to the user. */
  readonly kind: "local" | "s3";
  /** Where, for messages: a directory or s3://bucket/prefix. */
  readonly where: string;
  list(): Promise<StoredStateBackup[]>;
  get(id: string): Promise<Uint8Array>;
  put(id: string, bytes: Uint8Array): Promise<void>;
  delete(ids: string[]): Promise<void>;
  close(): void;
}

/** `state-<UTC yyyymmddThhmmssZ>-<6 random [a-z0-9]>` */
export function stateBackupId(at: Date, random: string): string {
  if (!/^[a-z0-9]{6}$/.test(random)) throw new Error("random part must be 6 [a-z0-9]");
  return `state-${at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z")}-${random}`;
}

/** The creation time an id carries, or null for a name that is not a state backup id. */
export function idTime(id: string): string | null {
  const m = ID.exec(id);
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m;
  const t = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
  return Number.isNaN(t.getTime()) ? null : t.toISOString();
}

export function assertStateBackupId(id: string): string {
  if (idTime(id) === null)
    throw new Invalid(`invalid state backup id ${JSON.stringify(id)} (state-YYYYMMDDTHHMMSSZ-xxxxxx)`);
  return id;
}

function fromName(name: string, size: number): StoredStateBackup | null {
  if (!name.endsWith(SUFFIX)) return null;
  const id = name.slice(0, -SUFFIX.length);
  const createdAt = idTime(id);
  return createdAt ? { id, createdAt, size } : null;
}

const newestFirst = (a: StoredStateBackup, b: StoredStateBackup) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/** A directory holding state backup files directly (the local `_state` dir, or one copied to a fresh host). */
export function dirStore(dir: string): StateBackupStore {
  const file = (id: string) => join(dir, `${assertStateBackupId(id)}${SUFFIX}`);
  return {
    kind: "local",
    where: dir,
    async list() {
      if (!existsSync(dir)) return [];
      return readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => fromName(e.name, statSync(join(dir, e.name)).size))
        .filter((b): b is StoredStateBackup => b !== null)
        .sort(newestFirst);
    },
    async get(id) {
      const f = file(id);
      if (!existsSync(f)) throw new NotFound(`no state backup ${id} in ${dir}`);
      return readFileSync(f);
    },
    async put(id, bytes) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // Written aside then renamed: a crash never leaves a half file under a backup's name.
      const partial = `${file(id)}.partial`;
      writeFileSync(partial, bytes, { mode: 0o600 });
      renameSync(partial, file(id));
    },
    async delete(ids) {
      for (const id of ids) rmSync(file(id), { force: true });
    },
    close() {},
  };
}

export function localStateDir(backupsRoot: string): string {
  return join(backupsRoot, STATE_DIR);
}

export async function s3Store(target: S3Target): Promise<StateBackupStore> {
  const s3 = await openS3(target);
  const prefix = s3Key(target, STATE_DIR, "");
  const key = (id: string) => `${prefix}${assertStateBackupId(id)}${SUFFIX}`;
  return {
    kind: "s3",
    where: `s3://${target.bucket}/${prefix}`,
    async list() {
      return (await s3.list(prefix))
        .map((o) =>
          o.key.lastIndexOf("/") === prefix.length - 1 ? fromName(o.key.slice(prefix.length), o.size) : null,
        )
        .filter((b): b is StoredStateBackup => b !== null)
        .sort(newestFirst);
    },
    async get(id) {
      if (!(await s3.head(key(id)))) throw new NotFound(`no state backup ${id} in s3://${target.bucket}/${prefix}`);
      return s3.getBytes(key(id));
    },
    async put(id, bytes) {
      await s3.put(key(id), bytes, "application/octet-stream");
    },
    async delete(ids) {
      await s3.delete(ids.map(key));
    },
    close() {
      s3.close();
    },
  };
}
