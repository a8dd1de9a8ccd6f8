/**
 * Storing a `db import` upload: never more than `imports.maxUploadMb`, and never past the free
 * space of the imports directory (refused up front when the request declares its length; a
 * chunked upload is checked every FREE_CHECK_BYTES, keeping that much headroom). A refused
 * upload leaves no file behind.
 */
import { open, rm } from "node:fs/promises";
import { TooLarge } from "../errors";
import { assertFreeSpace, formatBytes } from "./space";

const FREE_CHECK_BYTES = 64 * 1024 * 1024;

export interface UploadLimits {
  maxBytes: number;
  /** Content-Length when the client sent one. */
  declaredBytes: number | null;
}

function tooLarge(bytes: number, maxBytes: number): TooLarge {
  return new TooLarge(
    `the upload is larger than imports.maxUploadMb (${formatBytes(bytes)} > ${formatBytes(maxBytes)})`,
  );
}

/** Writes `body` to `path` (mode 0600); returns its size. Throws TooLarge or Invalid (free space). */
export async function saveUpload(
  body: ReadableStream<Uint8Array>,
  path: string,
  limits: UploadLimits,
): Promise<number> {
  if (limits.declaredBytes !== null) {
    if (limits.declaredBytes > limits.maxBytes) throw tooLarge(limits.declaredBytes, limits.maxBytes);
    assertFreeSpace("the upload", [{ path, bytes: limits.declaredBytes }]);
  }
  const fh = await open(path, "w", 0o600);
  let written = 0;
  let nextFreeCheck = limits.declaredBytes === null ? 0 : Number.POSITIVE_INFINITY;
  let complete = false;
  try {
    for await (const chunk of body) {
      written += chunk.byteLength;
      if (written > limits.maxBytes) throw tooLarge(written, limits.maxBytes);
      if (written >= nextFreeCheck) {
        assertFreeSpace("the upload", [{ path, bytes: FREE_CHECK_BYTES }]);
        nextFreeCheck += FREE_CHECK_BYTES;
      }
      let off = 0;
      while (off < chunk.byteLength) off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten;
    }
    complete = true;
    return written;
  } finally {
    await fh.close();
    if (!complete) await rm(path, { force: true });
  }
}
