/**
 * Loading `db import --filestore` (a tar of the database's filestore: `ab/ab12…` paths) into the
 * import's staged filestore. The tar is the uploader's, so it is checked whole before a byte is
 * written: ustar only, regular files and directories only (no links, devices or extended
 * headers), relative names that stay inside the filestore, at most `imports.maxZipEntries`
 * entries and `imports.maxUnpackedMb` in all (the limits of the zip import).
 */
import { open, mkdir } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import { formatBytes } from "../bytes";
import { Invalid, errorText } from "../errors";
import { assertFreeSpace } from "./space";
import { BLOCK, padding, parseTarHeader, type TarHeader } from "./tar";
import type { ZipLimits } from "./odoo-zip";

const LINK_FLAGS: Record<string, string> = {
  "1": "a hard link",
  "2": "a symbolic link",
  "3": "a device",
  "4": "a device",
  "6": "a FIFO",
};

/** `./ab/ab12…` → `ab/ab12…`; null for the root itself; Invalid for a name leaving the tree. */
export function filestoreEntryPath(name: string): string | null {
  if (name.includes("\0") || name.includes("\\")) throw new Invalid(`tar entry ${JSON.stringify(name)}: refused name`);
  if (posix.isAbsolute(name)) throw new Invalid(`tar entry ${JSON.stringify(name)} is an absolute path: refused`);
  if (name.split("/").includes(".."))
    throw new Invalid(`tar entry ${JSON.stringify(name)} points outside the filestore: refused`);
  const norm = posix.normalize(name).replace(/\/+$/, "");
  return norm === "." || norm === "" ? null : norm;
}

export interface TarEntry {
  path: string;
  header: TarHeader;
  /** Where the data starts in the file. */
  offset: number;
}

async function readBlock(fh: Awaited<ReturnType<typeof open>>, at: number): Promise<Uint8Array> {
  const buf = new Uint8Array(BLOCK);
  const { bytesRead } = await fh.read(buf, 0, BLOCK, at);
  return bytesRead === BLOCK ? buf : buf.subarray(0, bytesRead);
}

/** Every entry of the tar, checked; throws Invalid on the first problem. Reads headers only. */
export async function checkFilestoreTar(
  path: string,
  limits: ZipLimits,
): Promise<{ entries: TarEntry[]; bytes: number }> {
  const fh = await open(path, "r").catch((e: unknown) => {
    throw new Invalid(`${path}: ${errorText(e)}`);
  });
  try {
    const fileSize = (await fh.stat()).size;
    const entries: TarEntry[] = [];
    let bytes = 0;
    for (let at = 0; ; ) {
      const block = await readBlock(fh, at);
      let h: TarHeader | null;
      try {
        h = block.length === 0 ? null : parseTarHeader(block);
      } catch (e) {
        throw new Invalid(`the filestore is not a readable tar (at byte ${at}): ${errorText(e)}`);
      }
      if (h === null) break;
      if (h.type === "other") {
        throw new Invalid(
          `tar entry ${JSON.stringify(h.name)} is ${LINK_FLAGS[h.flag] ?? `of type ${JSON.stringify(h.flag)} (only files and directories; extended headers are not supported)`}: refused`,
        );
      }
      const data = at + BLOCK;
      if (data + h.size > fileSize) throw new Invalid(`the filestore tar is truncated (${JSON.stringify(h.name)})`);
      const rel = filestoreEntryPath(h.name);
      if (rel !== null) entries.push({ path: rel, header: h, offset: data });
      if (entries.length > limits.maxEntries)
        throw new Invalid(`the filestore tar has more than ${limits.maxEntries} entries, over imports.maxZipEntries`);
      bytes += h.size;
      if (bytes > limits.maxUnpackedBytes)
        throw new Invalid(
          `the filestore tar unpacks to more than ${formatBytes(bytes)}, over imports.maxUnpackedMb (${formatBytes(limits.maxUnpackedBytes)})`,
        );
      at = data + h.size + padding(h.size);
    }
    const files = new Set<string>();
    for (const e of entries) {
      if (e.header.type !== "file") continue;
      if (files.has(e.path)) throw new Invalid(`tar entry ${JSON.stringify(e.path)} appears twice: refused`);
      files.add(e.path);
    }
    return { entries, bytes };
  } finally {
    await fh.close();
  }
}

/**
 * Checks the tar (checkFilestoreTar), then writes its files into `targetDir` — a directory the
 * import job just created, so nothing in it can be a link — never replacing a file (O_EXCL).
 * Returns how many files were written.
 */
export async function extractFilestoreTar(
  path: string,
  targetDir: string,
  limits: ZipLimits,
): Promise<{ files: number; bytes: number }> {
  const { entries, bytes } = await checkFilestoreTar(path, limits);
  assertFreeSpace("the filestore", [{ path: targetDir, bytes }]);
  const src = await open(path, "r");
  let files = 0;
  try {
    const buf = new Uint8Array(1024 * 1024);
    for (const e of entries) {
      const target = join(targetDir, e.path);
      if (e.header.type === "dir") {
        await mkdir(target, { recursive: true, mode: 0o755 });
        continue;
      }
      await mkdir(dirname(target), { recursive: true, mode: 0o755 });
      const out = await open(target, "wx", 0o644);
      try {
        for (let done = 0; done < e.header.size; ) {
          const n = Math.min(buf.length, e.header.size - done);
          const { bytesRead } = await src.read(buf, 0, n, e.offset + done);
          if (bytesRead !== n) throw new Invalid(`the filestore tar is truncated (${JSON.stringify(e.path)})`);
          await out.write(buf, 0, n);
          done += n;
        }
      } finally {
        await out.close();
      }
      files++;
    }
  } finally {
    await src.close();
  }
  return { files, bytes };
}
