/**
 * The filestore half of the PII check: every file under the copy's filestore, its path and its
 * bytes, read in fixed-size chunks (any file size, bounded memory) through the same matcher as
 * the database scan. Bytes are read as Latin-1 with NULs dropped, so ASCII and UTF-16 text both
 * read as text. A symbolic link or special file fails the check: the copy's filestore is written
 * by odooops as plain files, anything else was not, and what it points at cannot be vouched for.
 * Not inflated: compressed streams inside files (zip-based office documents, PDF Flate streams).
 */
import { open, readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { Invalid } from "../../errors";
import { NeedleMatcher } from "./pii-match";

/** Bytes read per chunk. */
export const FILE_CHUNK = 1024 * 1024;
/** Characters carried from one chunk to the next, so a value cut by a boundary is seen whole. */
const CARRY = 512;

export interface FileScanResult {
  files: number;
  bytes: number;
  /** Source values found in file contents / in file paths, with up to 5 files each. */
  contents: { emails: Set<string>; phones: Set<string>; files: string[] };
  names: { emails: Set<string>; phones: Set<string>; files: string[] };
}

function readable(chunk: Buffer): string {
  return chunk.toString("latin1").replaceAll("\0", "");
}

/** Scans one file's bytes; `found` collects the source values. */
export async function scanFile(
  path: string,
  matcher: NeedleMatcher,
  found: { emails: Set<string>; phones: Set<string> },
): Promise<number> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.allocUnsafe(FILE_CHUNK);
    let carry = "";
    let total = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, FILE_CHUNK, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      const text = carry + readable(buf.subarray(0, bytesRead));
      matcher.scan(text, found);
      carry = text.slice(-CARRY);
    }
    return total;
  } finally {
    await fh.close();
  }
}

/** Walks `dir` (absent = nothing to scan). */
export async function scanFilestore(dir: string, matcher: NeedleMatcher): Promise<FileScanResult> {
  const result: FileScanResult = {
    files: 0,
    bytes: 0,
    contents: { emails: new Set(), phones: new Set(), files: [] },
    names: { emails: new Set(), phones: new Set(), files: [] },
  };
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return [];
    throw e;
  });
  for (const e of entries) {
    const path = join(e.parentPath, e.name);
    const rel = relative(dir, path);
    const before = result.names.emails.size + result.names.phones.size;
    matcher.scan(rel, result.names);
    if (result.names.emails.size + result.names.phones.size > before && result.names.files.length < 5)
      result.names.files.push(rel);
    if (e.isDirectory()) continue;
    if (!e.isFile())
      throw new Invalid(`PII check: ${rel} in the copy's filestore is not a regular file; it cannot be vouched for`);
    const seen = result.contents.emails.size + result.contents.phones.size;
    result.bytes += await scanFile(path, matcher, result.contents);
    result.files += 1;
    if (result.contents.emails.size + result.contents.phones.size > seen && result.contents.files.length < 5)
      result.contents.files.push(rel);
  }
  return result;
}
