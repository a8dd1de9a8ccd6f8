/**
 * Where one backup lives. A backup is a directory (local) or a key prefix (S3) named
 * `<env slug>/<backup id>/` holding exactly the files below; nothing else is ever written there,
 * which is what lets deletion prove it only removes what a backup wrote.
 */
import { join } from "node:path";
import { Invalid } from "../../errors";
import { s3Key, type S3Target } from "../../host/s3/schema";

export const PART_FILES = { db: "db.dump", filestore: "filestore.tar" } as const;
export const MANIFEST_FILE = "manifest.json";
/** Suffix of a part still being written; renamed away only once complete and synced. */
export const PARTIAL_SUFFIX = ".partial";

export type PartName = keyof typeof PART_FILES;
export const PART_NAMES: PartName[] = ["db", "filestore"];

const SLUG = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const BACKUP_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

export function assertEnvSlug(slug: string): string {
  if (!SLUG.test(slug)) throw new Invalid(`invalid environment slug ${JSON.stringify(slug)}`);
  return slug;
}

export function assertBackupId(id: string): string {
  if (!BACKUP_ID.test(id)) throw new Invalid(`invalid backup id ${JSON.stringify(id)}`);
  return id;
}

/** `<backupsRoot>/<slug>/<id>` */
export function localBackupDir(backupsRoot: string, envSlug: string, backupId: string): string {
  return join(backupsRoot, assertEnvSlug(envSlug), assertBackupId(backupId));
}

/** `<target prefix><slug>/<id>/` */
export function s3BackupPrefix(target: Pick<S3Target, "prefix">, envSlug: string, backupId: string): string {
  return `${s3Key(target, assertEnvSlug(envSlug), assertBackupId(backupId))}/`;
}

/** True when `prefix` is exactly one backup's prefix under the target (never a parent of several). */
export function isBackupPrefix(target: Pick<S3Target, "prefix">, prefix: string): boolean {
  if (!prefix.startsWith(target.prefix) || !prefix.endsWith("/")) return false;
  const rest = prefix.slice(target.prefix.length, -1).split("/");
  return rest.length === 2 && SLUG.test(rest[0]) && BACKUP_ID.test(rest[1]);
}
