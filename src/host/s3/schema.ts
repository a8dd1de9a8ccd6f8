/**
 * An S3-compatible backup target (AWS, MinIO, Backblaze, Wasabi, Scaleway, s3rver …). One zod
 * schema shared by the config file, the init wizard and the API.
 */
import { z } from "zod";

/** Key prefix: no leading slash, "" or ending in exactly one "/", no empty or dot segments. */
const Prefix = z
  .string()
  .default("")
  .transform((p) => {
    const trimmed = p.replace(/^\/+|\/+$/g, "");
    return trimmed === "" ? "" : `${trimmed}/`;
  })
  .refine(
    (p) =>
      p === "" ||
      p
        .slice(0, -1)
        .split("/")
        .every((s) => s !== "" && s !== "." && s !== ".."),
    {
      message: "prefix segments must be non-empty and not . or ..",
    },
  );

export const S3TargetSchema = z
  .object({
    /** Omit for AWS; e.g. https://s3.eu-central-003.backblazeb2.com, http://127.0.0.1:9000. */
    endpoint: z.string().url().optional(),
    region: z.string().min(1).default("us-east-1"),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name (3-63 chars: a-z 0-9 . -)"),
    /** Every object odooops writes lives under this prefix (e.g. "odooops/" or "client-a/backups/"). */
    prefix: Prefix,
    /** Both or neither: without them the SDK's default chain (env, instance role) is used. */
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    /** Path-style URLs (`endpoint/bucket/key`): MinIO, s3rver and most self-hosted servers need it. */
    forcePathStyle: z.boolean().default(false),
    /**
     * Multipart part size. A backup raises it for a big database or filestore so that the
     * object needs at most half of S3's 10 000 parts (from pg_database_size and the filestore's
     * size). Memory: each part in flight is held about twice over (lib-storage's buffer, the
     * request's copy) until the daemon's collection every 16 MiB uploaded, so ~2 × partSizeMb ×
     * queueSize per running upload; a backup runs two (the database and the filestore).
     */
    partSizeMb: z.number().int().min(5).max(5120).default(8),
    /**
     * Parts uploaded in parallel. 2 keeps a loopback or LAN server busy while pg_dump's
     * compression is the bottleneck (bench/README.md, issue #6); raise it for a slow, far uplink.
     */
    queueSize: z.number().int().min(1).max(32).default(2),
    /**
     * Compare the ETag the server reports with the MD5 computed while streaming. Turn off only
     * for servers whose ETag is not an MD5 (SSE-KMS and SSE-C objects are recognized and skipped).
     */
    verifyEtag: z.boolean().default(true),
    /**
     * "when_supported" (SDK default): CRC32 checksums on every upload, verified by the server.
     * "when_required": only where the API demands one — for S3-compatible servers that reject
     * the newer x-amz-checksum headers. Size and ETag are verified either way.
     */
    sdkChecksums: z.enum(["when_supported", "when_required"]).default("when_supported"),
  })
  .strict()
  .refine((t) => (t.accessKeyId === undefined) === (t.secretAccessKey === undefined), {
    message: "accessKeyId and secretAccessKey go together",
    path: ["secretAccessKey"],
  });

export type S3Target = z.infer<typeof S3TargetSchema>;
export type S3TargetInput = z.input<typeof S3TargetSchema>;

/** `target.prefix` + the given segments joined with "/". */
export function s3Key(target: Pick<S3Target, "prefix">, ...segments: string[]): string {
  return `${target.prefix}${segments.join("/")}`;
}
