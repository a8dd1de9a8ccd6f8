/**
 * Reading a backup back: from its local directory or its S3 prefix, the same way. Everything read
 * is checked against the manifest (size + sha256) before it is trusted.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Invalid, NotFound, errorText } from "../../errors";
import { describeS3Error, isNotFound, openS3 } from "../../host/s3/client";
import type { S3Target } from "../../host/s3/schema";
import { MANIFEST_FILE, PART_FILES, type PartName } from "./layout";
import { parseManifest, type BackupManifest, type ManifestTrust } from "./manifest";

export type BackupSource =
  | { kind: "local"; dir: string }
  /** `prefix` as returned by runBackup (`<target prefix><slug>/<id>/`). */
  | { kind: "s3"; target: S3Target; prefix: string };

export function describeSource(source: BackupSource): string {
  return source.kind === "local" ? source.dir : `s3://${source.target.bucket}/${source.prefix}`;
}

/** `<…>/<env slug>/<backup id>` of a local dir or an S3 prefix (layout.ts). */
function locationOf(source: BackupSource): { env: string; backupId: string } {
  const parts = (source.kind === "local" ? source.dir : source.prefix).split("/").filter((p) => p !== "");
  return { env: parts.at(-2) ?? "", backupId: parts.at(-1) ?? "" };
}

/**
 * The manifest, authenticated (manifest.ts) and bound to where it was read: a signed manifest of
 * another env's or another backup's copy, put at this location, is refused too.
 */
function trusted(text: string, source: BackupSource, trust: ManifestTrust): BackupManifest {
  const where = describeSource(source);
  const manifest = parseManifest(text, where, trust);
  const at = locationOf(source);
  if (manifest.env !== at.env || manifest.backupId !== at.backupId) {
    throw new Invalid(
      `${where}: the manifest is backup ${manifest.backupId} of ${manifest.env}, not the one stored here (${at.backupId} of ${at.env}); refusing to restore it`,
    );
  }
  return manifest;
}

export async function readManifest(source: BackupSource, trust: ManifestTrust): Promise<BackupManifest> {
  const where = describeSource(source);
  if (source.kind === "local") {
    const text = await readFile(join(source.dir, MANIFEST_FILE), "utf8").catch((e: unknown) => {
      throw new NotFound(`${where}: no ${MANIFEST_FILE} (not a complete backup): ${errorText(e)}`);
    });
    return trusted(text, source, trust);
  }
  const store = await openS3(source.target);
  try {
    const bytes = await store.getBytes(`${source.prefix}${MANIFEST_FILE}`);
    return trusted(new TextDecoder().decode(bytes), source, trust);
  } catch (e) {
    if (isNotFound(e)) throw new NotFound(`${where}: no ${MANIFEST_FILE} (not a complete backup)`);
    if (e instanceof Invalid) throw e;
    throw new Invalid(`${where}: cannot read ${MANIFEST_FILE}: ${describeS3Error(e)}`);
  } finally {
    store.close();
  }
}

export interface OpenedPart {
  stream: ReadableStream<Uint8Array>;
  /** Size as the storage reports it (null if it does not say). */
  size: number | null;
  /** Local file path when the part is a local file (pg_restore -j can use it in place). */
  path: string | null;
  close(): void;
}

export async function openPart(source: BackupSource, part: PartName, signal?: AbortSignal): Promise<OpenedPart> {
  if (source.kind === "local") {
    const path = join(source.dir, PART_FILES[part]);
    const st = await stat(path).catch(() => {
      throw new NotFound(`${describeSource(source)}: ${PART_FILES[part]} is missing`);
    });
    return { stream: Bun.file(path).stream(), size: st.size, path, close: () => undefined };
  }
  const store = await openS3(source.target);
  try {
    const r = await store.getStream(`${source.prefix}${PART_FILES[part]}`, signal);
    return { stream: r.body, size: r.size, path: null, close: () => store.close() };
  } catch (e) {
    store.close();
    if (isNotFound(e)) throw new NotFound(`${describeSource(source)}: ${PART_FILES[part]} is missing`);
    throw e;
  }
}
