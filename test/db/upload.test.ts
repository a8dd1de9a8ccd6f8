/** Storing an import upload on the real filesystem: the configured maximum, declared or not, leaves no file behind. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { saveUpload } from "../../src/db/upload";
import { Invalid, TooLarge } from "../../src/errors";
import { makeTempDir, removeTempDir } from "../support/tmp";

const dir = makeTempDir("odooops-upload-");
afterAll(() => removeTempDir(dir));

function body(chunks: number, size = 1024): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent++ < chunks) c.enqueue(new Uint8Array(size).fill(sent));
      else c.close();
    },
  });
}

describe("saveUpload", () => {
  test("within the limit: written whole", async () => {
    const path = join(dir, "ok");
    expect(await saveUpload(body(4), path, { maxBytes: 4096, declaredBytes: null })).toBe(4096);
    expect(readFileSync(path).length).toBe(4096);
  });

  test("a chunked upload past the limit is cut off and removed; a declared one is refused before a byte is written", async () => {
    const path = join(dir, "big");
    const err = await saveUpload(body(10), path, { maxBytes: 4096, declaredBytes: null }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TooLarge);
    expect((err as Error).message).toContain("imports.maxUploadMb");
    expect(existsSync(path)).toBe(false);
    await expect(saveUpload(body(1), path, { maxBytes: 4096, declaredBytes: 5000 })).rejects.toBeInstanceOf(TooLarge);
    expect(existsSync(path)).toBe(false);
  });

  test("a declared length over the free space is refused with both figures", async () => {
    const s = statfsSync(dir);
    const declared = s.bavail * s.bsize + 1024 ** 3;
    const path = join(dir, "huge");
    const err = await saveUpload(body(1), path, { maxBytes: Number.MAX_SAFE_INTEGER, declaredBytes: declared }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Invalid);
    expect((err as Error).message).toMatch(/not enough free space for the upload .*: needs .*, .* free/);
    expect(existsSync(path)).toBe(false);
  });
});
