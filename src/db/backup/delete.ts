/**
 * Deleting one backup everywhere it lives. Only what a backup writes is removed: a local dir is
 * refused if it holds anything but backup files, an S3 prefix unless it is exactly one backup's
 * `<slug>/<id>/` under the target's prefix. Missing copies are fine (idempotent, resumable).
 */
import { readdir, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { Conflict, Invalid } from "../../errors";
import { openS3 } from "../../host/s3/client";
import type { S3Target } from "../../host/s3/schema";
import type { Logger } from "../../log";
import { MANIFEST_FILE, PARTIAL_SUFFIX, PART_FILES, isBackupPrefix } from "./layout";

export interface BackupLocation {
  /** The backup's own directory (`BackupResult.local.dir`). */
  localDir?: string | null;
  /** The backup's own prefix (`BackupResult.s3.prefix`) on `target`. */
  s3?: { target: S3Target; prefix: string } | null;
}

export interface DeleteResult {
  localRemoved: boolean;
  s3Objects: number;
}

const KNOWN = new Set([...Object.values(PART_FILES), MANIFEST_FILE].flatMap((f) => [f, `${f}${PARTIAL_SUFFIX}`]));

export async function deleteBackup(loc: BackupLocation, log: Logger): Promise<DeleteResult> {
  let s3Objects = 0;
  if (loc.s3) {
    const { target, prefix } = loc.s3;
    if (!isBackupPrefix(target, prefix))
      throw new Invalid(
        `refusing to delete ${JSON.stringify(prefix)}: not one backup's prefix under ${JSON.stringify(target.prefix)}`,
      );
    const store = await openS3(target);
    try {
      const objects = await store.list(prefix);
      const foreign = objects.filter((o) => !KNOWN.has(o.key.slice(prefix.length)));
      if (foreign.length > 0)
        throw new Conflict(
          `refusing to delete s3://${target.bucket}/${prefix}: it holds objects odooops did not write (${foreign[0]?.key})`,
        );
      // Manifest first: a half-deleted backup must never look complete.
      const keys = objects.map((o) => o.key);
      const manifest = keys.filter((k) => k.endsWith(MANIFEST_FILE));
      if (manifest.length > 0) await store.delete(manifest);
      await store.delete(keys.filter((k) => !k.endsWith(MANIFEST_FILE)));
      s3Objects = keys.length;
    } finally {
      store.close();
    }
    log.info("backup deleted from S3", { bucket: target.bucket, prefix, objects: s3Objects });
  }
  let localRemoved = false;
  if (loc.localDir) {
    const dir = loc.localDir;
    const entries = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return null;
      throw e;
    });
    if (entries) {
      const foreign = entries.filter((e) => !KNOWN.has(e));
      if (foreign.length > 0)
        throw new Conflict(`refusing to delete ${dir}: it holds files odooops did not write (${foreign[0]})`);
      if (entries.includes(MANIFEST_FILE)) await rm(join(dir, MANIFEST_FILE), { force: true });
      for (const e of entries) await rm(join(dir, e), { force: true });
      await rmdir(dir);
      localRemoved = true;
      log.info("backup deleted locally", { dir });
    }
  }
  return { localRemoved, s3Objects };
}
