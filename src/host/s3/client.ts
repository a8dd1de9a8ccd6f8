/**
 * Object operations on one S3 target. Keys are full object keys (build them with `s3Key`, which
 * applies the target's prefix), so what is logged and stored is exactly what lives in the bucket.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { Secrets } from "../../log";
import type { S3Target } from "./schema";

export interface S3ObjectInfo {
  key: string;
  size: number;
  /** Without the surrounding quotes. */
  etag: string | null;
  /** Composite or full-object CRC32 the server computed ("<base64>" or "<base64>-N"), when it keeps one. */
  checksumCrc32: string | null;
  /** "AES256", "aws:kms", "aws:kms:dsse" or null. */
  serverSideEncryption: string | null;
  /** SSE-C objects have an ETag that is not an MD5. */
  sseCustomer: boolean;
}

export interface S3Store {
  readonly target: S3Target;
  readonly client: S3Client;
  put(key: string, body: string | Uint8Array, contentType?: string): Promise<{ etag: string | null }>;
  /** Null when the object does not exist. */
  head(key: string): Promise<S3ObjectInfo | null>;
  /** The object's bytes as a stream; NotFound-style S3 errors propagate. */
  getStream(key: string, signal?: AbortSignal): Promise<{ body: ReadableStream<Uint8Array>; size: number | null }>;
  getBytes(key: string): Promise<Uint8Array>;
  /** Every object under `prefix` (all pages), sorted by key. */
  list(prefix: string): Promise<{ key: string; size: number }[]>;
  /** Deletes the keys; missing keys are not an error. Returns the count sent. */
  delete(keys: string[]): Promise<number>;
  /** Closes the client's sockets. */
  close(): void;
}

export function unquoteEtag(etag: string | undefined): string | null {
  return etag ? etag.replace(/^W\//, "").replace(/^"|"$/g, "") : null;
}

/**
 * The SDK's service errors, recognised by shape: `instanceof S3ServiceException` would need the SDK
 * loaded, and the daemon loads it only on first S3 use (~15 MB resident once evaluated).
 */
function serviceError(e: unknown): { name: string; message: string; status: number | undefined } | null {
  if (!(e instanceof Error) || !("$metadata" in e)) return null;
  const meta = e.$metadata;
  const status =
    meta && typeof meta === "object" && "httpStatusCode" in meta && typeof meta.httpStatusCode === "number"
      ? meta.httpStatusCode
      : undefined;
  return { name: e.name, message: e.message, status };
}

/** True for "object/bucket not found" answers, whatever the server's flavour. */
export function isNotFound(e: unknown): boolean {
  const s = serviceError(e);
  return s !== null && (s.status === 404 || s.name === "NotFound" || s.name === "NoSuchKey");
}

/** A short, credential-free description of an S3 error for job logs and the backups table. */
export function describeS3Error(e: unknown): string {
  const s = serviceError(e);
  if (s) return `${s.name}${s.status ? ` (HTTP ${s.status})` : ""}: ${s.message}`;
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${typeof code === "string" ? `${code}: ` : ""}${e.message}`;
  }
  return String(e);
}

export async function openS3(target: S3Target): Promise<S3Store> {
  Secrets.add(target.secretAccessKey, target.accessKeyId);
  const { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } =
    await import("@aws-sdk/client-s3");
  const client = new S3Client({
    region: target.region,
    endpoint: target.endpoint,
    forcePathStyle: target.forcePathStyle,
    credentials:
      target.accessKeyId && target.secretAccessKey
        ? { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey }
        : undefined,
    // Without timeouts a server that stops answering (not refusing) hangs a backup forever.
    requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
    maxAttempts: 3,
    requestChecksumCalculation: target.sdkChecksums === "when_required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED",
    responseChecksumValidation: target.sdkChecksums === "when_required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED",
  });
  const bucket = target.bucket;

  return {
    target,
    client,
    async put(key, body, contentType) {
      const r = await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }),
      );
      return { etag: unquoteEtag(r.ETag) };
    },
    async head(key) {
      try {
        const r = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
        return {
          key,
          size: r.ContentLength ?? 0,
          etag: unquoteEtag(r.ETag),
          checksumCrc32: r.ChecksumCRC32 ?? null,
          serverSideEncryption: r.ServerSideEncryption ?? null,
          sseCustomer: r.SSECustomerAlgorithm !== undefined,
        };
      } catch (e) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },
    async getStream(key, signal) {
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
      if (!r.Body) throw new Error(`S3 returned no body for ${key}`);
      return { body: r.Body.transformToWebStream() as ReadableStream<Uint8Array>, size: r.ContentLength ?? null };
    },
    async getBytes(key) {
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!r.Body) throw new Error(`S3 returned no body for ${key}`);
      return r.Body.transformToByteArray();
    },
    async list(prefix) {
      const out: { key: string; size: number }[] = [];
      let token: string | undefined;
      do {
        const r = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of r.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    async delete(keys) {
      // One DeleteObject per key, not DeleteObjects: the batch call needs Content-MD5 on several
      // S3-compatible servers, which current SDKs no longer send. A backup has three objects.
      for (let i = 0; i < keys.length; i += 8) {
        await Promise.all(
          keys.slice(i, i + 8).map((Key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key }))),
        );
      }
      return keys.length;
    },
    close() {
      client.destroy();
    },
  };
}
