/**
 * A streaming multipart upload the caller writes chunks into (pg_dump's stdout, a tar stream),
 * with backpressure and nothing on disk. While bytes pass, the MD5 and CRC32 the server will
 * report are computed with lib-storage's exact part boundaries, so after completion HeadObject
 * can be checked against what was really sent, not just against a size.
 */
import { createHash, type Hash } from "node:crypto";
import { once } from "node:events";
import { PassThrough } from "node:stream";
import type { S3ObjectInfo, S3Store } from "./client";

/** zlib-compatible CRC32; `seed` continues a previous value. */
const crc32 = (data: Uint8Array, seed = 0): number => Bun.hash.crc32(data, seed);

export interface UploadVerification {
  size: true;
  /** true = matched, null = the server's ETag is not an MD5 we can predict (or verifyEtag is off). */
  etag: boolean | null;
  /** true = matched, null = the server keeps no CRC32 for the object. */
  crc32: boolean | null;
}

export interface UploadResult {
  key: string;
  size: number;
  parts: number;
  etag: string | null;
  verified: UploadVerification;
}

export interface StreamingUpload {
  readonly key: string;
  /** The first error of the upload itself (network, server, abort); null while healthy. */
  readonly failure: Error | null;
  /** Resolves once the chunk is accepted (waits while lib-storage's queue is full). Throws after a failure. */
  write(chunk: Uint8Array): Promise<void>;
  /** Ends the stream, completes the upload, then HeadObject-verifies it. */
  finish(): Promise<UploadResult>;
  /** Aborts (the multipart upload is aborted on the server); never throws. */
  abort(reason: Error): Promise<void>;
}

/** Per-part MD5/CRC32 exactly as lib-storage cuts parts: full `partSize` parts, the rest last. */
class PartDigests {
  private readonly md5s: Buffer[] = [];
  private readonly crcs: number[] = [];
  private md5: Hash = createHash("md5");
  private crc = 0;
  private inPart = 0;
  private readonly whole = createHash("md5");
  private wholeCrc = 0;
  bytes = 0;

  constructor(private readonly partSize: number) {}

  update(chunk: Uint8Array): void {
    this.whole.update(chunk);
    this.wholeCrc = crc32(chunk, this.wholeCrc);
    this.bytes += chunk.byteLength;
    let offset = 0;
    while (offset < chunk.byteLength) {
      // A part is closed only when more bytes follow it (lib-storage's `length > partSize`).
      if (this.inPart === this.partSize) this.closePart();
      const take = Math.min(this.partSize - this.inPart, chunk.byteLength - offset);
      const slice = chunk.subarray(offset, offset + take);
      this.md5.update(slice);
      this.crc = crc32(slice, this.crc);
      this.inPart += take;
      offset += take;
    }
  }

  private closePart(): void {
    this.md5s.push(this.md5.digest());
    this.crcs.push(this.crc);
    this.md5 = createHash("md5");
    this.crc = 0;
    this.inPart = 0;
  }

  /** Call once, after the last update. */
  finish(): { parts: number; wholeMd5: string; multipartEtag: string; wholeCrc32: string; compositeCrc32: string } {
    this.closePart();
    const n = this.md5s.length;
    const crcBytes = Buffer.alloc(4 * n);
    for (const [i, c] of this.crcs.entries()) crcBytes.writeUInt32BE(c >>> 0, 4 * i);
    const b64 = (v: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(v >>> 0);
      return b.toString("base64");
    };
    return {
      parts: n,
      wholeMd5: this.whole.digest("hex"),
      multipartEtag: `${createHash("md5").update(Buffer.concat(this.md5s)).digest("hex")}-${n}`,
      wholeCrc32: b64(this.wholeCrc),
      compositeCrc32: `${b64(crc32(crcBytes))}-${n}`,
    };
  }
}

type Digests = ReturnType<PartDigests["finish"]>;

/** Compares what HeadObject reports with what was streamed; throws on any mismatch. */
export function verifyUploaded(
  info: S3ObjectInfo | null,
  sent: number,
  d: Digests,
  checkEtag: boolean,
): UploadVerification {
  if (!info) throw new Error("object missing after upload");
  if (info.size !== sent) throw new Error(`size mismatch: sent ${sent} bytes, server has ${info.size}`);
  let etag: boolean | null = null;
  const etagIsMd5 = checkEtag && !info.sseCustomer && !(info.serverSideEncryption ?? "").startsWith("aws:kms");
  if (etagIsMd5 && info.etag) {
    const plain = /^[0-9a-f]{32}$/i.test(info.etag);
    const multi = /^[0-9a-f]{32}-\d+$/i.test(info.etag);
    // Single-part PUTs (and some servers, e.g. s3rver, even for multipart) report the whole MD5.
    if (plain) etag = info.etag.toLowerCase() === d.wholeMd5;
    else if (multi) etag = info.etag.toLowerCase() === d.multipartEtag;
    if (etag === false)
      throw new Error(`ETag mismatch: server ${info.etag}, expected ${plain ? d.wholeMd5 : d.multipartEtag}`);
  }
  let crc: boolean | null = null;
  if (info.checksumCrc32) {
    const expected = info.checksumCrc32.includes("-") ? d.compositeCrc32 : d.wholeCrc32;
    crc = info.checksumCrc32 === expected;
    if (!crc) throw new Error(`CRC32 mismatch: server ${info.checksumCrc32}, expected ${expected}`);
  }
  return { size: true, etag, crc32: crc };
}

/** S3 allows at most 10 000 parts per object. */
const MAX_PARTS = 10_000;
const MiB = 1024 * 1024;
const GC_EVERY_BYTES = 16 * MiB;

/**
 * The configured part size, raised (to whole MiB) when an object of about `expectedBytes` would
 * need more than half of S3's 10 000 parts: the estimate (database size, filestore size) may be
 * off, and an upload that runs out of parts fails at the very end.
 */
export function partSizeFor(configuredBytes: number, expectedBytes?: number | null): number {
  if (!expectedBytes || expectedBytes <= 0) return configuredBytes;
  const needed = Math.ceil((2 * expectedBytes) / MAX_PARTS / MiB) * MiB;
  return Math.max(configuredBytes, needed);
}

export async function startUpload(
  store: S3Store,
  key: string,
  opts: { contentType?: string; signal?: AbortSignal; partSizeBytes?: number; expectedBytes?: number | null } = {},
): Promise<StreamingUpload> {
  const { Upload } = await import("@aws-sdk/lib-storage");
  const partSize = partSizeFor(opts.partSizeBytes ?? store.target.partSizeMb * MiB, opts.expectedBytes);
  const digests = new PartDigests(partSize);
  // Small buffer in front of lib-storage, which itself holds up to partSize × queueSize.
  const body = new PassThrough({ highWaterMark: 1024 * 1024 });
  // Errors surface through `failure`; without a listener a destroyed stream would crash the process.
  body.on("error", () => undefined);
  const upload = new Upload({
    client: store.client,
    params: {
      Bucket: store.target.bucket,
      Key: key,
      Body: body,
      ContentType: opts.contentType ?? "application/octet-stream",
    },
    partSize,
    queueSize: store.target.queueSize,
    leavePartsOnError: false,
  });
  // Each part leaves garbage of about three times its size (the chunks, lib-storage's
  // concatenation, the request's copy) in ArrayBuffers that Bun's GC does not count as heap
  // pressure, so RSS saw-tooths to ~300 MB during a backup. A collection every 16 MiB uploaded
  // keeps it near 200 MB at no measurable CPU cost; one per 8 MiB part cost ~20 % more daemon CPU
  // (bench/README.md).
  let collectedAt = 0;
  upload.on("httpUploadProgress", (p: { loaded?: number }) => {
    const loaded = p.loaded ?? 0;
    if (loaded - collectedAt < GC_EVERY_BYTES) return;
    collectedAt = loaded;
    Bun.gc(true);
  });
  let failure: Error | null = null;
  let rejectFailed: (e: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    rejectFailed = reject;
  });
  failed.catch(() => undefined);
  const done = upload.done().then(
    () => undefined,
    (e: unknown) => {
      failure ??= e instanceof Error ? e : new Error(String(e));
      rejectFailed(failure);
    },
  );
  const onAbort = () => {
    body.destroy(new Error("upload cancelled"));
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });

  return {
    key,
    get failure() {
      return failure;
    },
    async write(chunk) {
      if (failure) throw failure;
      digests.update(chunk);
      if (!body.write(chunk)) await Promise.race([once(body, "drain"), failed]);
    },
    async finish() {
      body.end();
      await done;
      opts.signal?.removeEventListener("abort", onAbort);
      if (failure) throw failure;
      const d = digests.finish();
      const info = await store.head(key);
      const verified = verifyUploaded(info, digests.bytes, d, store.target.verifyEtag);
      return { key, size: digests.bytes, parts: d.parts, etag: info?.etag ?? null, verified };
    },
    async abort(reason) {
      failure ??= reason;
      // A destroyed body makes lib-storage's reader throw, which aborts the multipart upload.
      body.destroy(reason);
      await done;
      opts.signal?.removeEventListener("abort", onAbort);
    },
  };
}
