import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { S3TargetSchema, s3Key, openS3, startUpload, testS3Target, verifyUploaded } from "../../src/host/s3";
import { partSizeFor } from "../../src/host/s3/upload";
import { startS3, type TestS3 } from "../support/s3";
import { randomSuffix } from "../support/tmp";

const SLOW = 60_000;
const MiB = 1024 * 1024;

describe("S3 target schema", () => {
  test("defaults, prefix normalization, credential pairing", () => {
    const t = S3TargetSchema.parse({ bucket: "my-backups", prefix: "/client-a/backups" });
    expect(t).toEqual({
      region: "us-east-1",
      bucket: "my-backups",
      prefix: "client-a/backups/",
      forcePathStyle: false,
      partSizeMb: 8,
      queueSize: 2,
      verifyEtag: true,
      sdkChecksums: "when_supported",
    });
    expect(S3TargetSchema.parse({ bucket: "abc", prefix: "///" }).prefix).toBe("");
    expect(s3Key(t, "shop", "b1", "db.dump")).toBe("client-a/backups/shop/b1/db.dump");
    expect(S3TargetSchema.safeParse({ bucket: "abc", accessKeyId: "x" }).success).toBe(false);
    expect(S3TargetSchema.safeParse({ bucket: "Bad_Bucket" }).success).toBe(false);
    expect(S3TargetSchema.safeParse({ bucket: "abc", prefix: "a//b" }).success).toBe(false);
    expect(S3TargetSchema.safeParse({ bucket: "abc", prefix: "a/../b" }).success).toBe(false);
    expect(S3TargetSchema.safeParse({ bucket: "abc", partSizeMb: 4 }).success).toBe(false);
    expect(S3TargetSchema.safeParse({ bucket: "abc", extra: 1 }).success).toBe(false);
  });

  test("partSizeFor: the configured size unless the expected object would need over 5 000 parts", () => {
    expect(partSizeFor(8 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(8 * MiB, null)).toBe(8 * MiB);
    expect(partSizeFor(8 * MiB, 2 * 1024 * MiB)).toBe(8 * MiB);
    // 40 000 MiB: 5 000 parts of 8 MiB would be the limit; whole MiB above it.
    expect(partSizeFor(8 * MiB, 40_000 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(8 * MiB, 40_001 * MiB)).toBe(9 * MiB);
    expect(partSizeFor(5 * MiB, 500 * 1024 * MiB)).toBe(103 * MiB);
    expect(Math.ceil((500 * 1024 * MiB) / partSizeFor(5 * MiB, 500 * 1024 * MiB))).toBeLessThanOrEqual(5_000);
  });

  test("verifyUploaded: size, plain and multipart ETags, CRC32, KMS skipped", () => {
    const d = {
      parts: 2,
      wholeMd5: "a".repeat(32),
      multipartEtag: `${"b".repeat(32)}-2`,
      wholeCrc32: "AAAAAA==",
      compositeCrc32: "BBBBBB==-2",
    };
    const info = {
      key: "k",
      size: 10,
      etag: "a".repeat(32),
      checksumCrc32: null,
      serverSideEncryption: null,
      sseCustomer: false,
    };
    expect(verifyUploaded(info, 10, d, true)).toEqual({ size: true, etag: true, crc32: null });
    expect(() => verifyUploaded(info, 11, d, true)).toThrow("size mismatch");
    expect(() => verifyUploaded(null, 10, d, true)).toThrow("missing");
    expect(() => verifyUploaded({ ...info, etag: "c".repeat(32) }, 10, d, true)).toThrow("ETag mismatch");
    expect(verifyUploaded({ ...info, etag: `${"b".repeat(32)}-2` }, 10, d, true).etag).toBe(true);
    expect(
      verifyUploaded({ ...info, etag: "c".repeat(32), serverSideEncryption: "aws:kms" }, 10, d, true).etag,
    ).toBeNull();
    expect(verifyUploaded({ ...info, etag: "c".repeat(32) }, 10, d, false).etag).toBeNull();
    expect(verifyUploaded({ ...info, etag: "opaque-etag" }, 10, d, true).etag).toBeNull();
    expect(verifyUploaded({ ...info, checksumCrc32: "BBBBBB==-2" }, 10, d, true).crc32).toBe(true);
    expect(() => verifyUploaded({ ...info, checksumCrc32: "AAAAAB==" }, 10, d, true)).toThrow("CRC32 mismatch");
  });
});

describe("S3 against s3rver", () => {
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await startS3();
  }, SLOW);
  afterAll(async () => {
    await s3?.destroy();
  }, SLOW);

  test(
    "testS3Target: round trip ok; missing bucket fails at put; unknown access key fails",
    async () => {
      const bucket = `probe-${randomSuffix()}`;
      const ok = await testS3Target(await s3.target(bucket, { prefix: "odooops" }));
      expect(ok.ok).toBe(true);
      const store = await openS3(s3.targetNoCreate(bucket));
      expect(await store.list("")).toEqual([]);
      store.close();
      const missing = await testS3Target(s3.targetNoCreate(`nope-${randomSuffix()}`));
      expect(missing).toMatchObject({ ok: false, step: "put" });
      if (!missing.ok) expect(missing.error).toContain("NoSuchBucket");
      const badKey = await testS3Target(s3.targetNoCreate(bucket, { accessKeyId: "NOT-A-KEY" }));
      expect(badKey).toMatchObject({ ok: false, step: "put" });
    },
    SLOW,
  );

  test(
    "streaming multipart upload: exact parts, ETag verified, bytes equal; list and delete",
    async () => {
      const target = await s3.target(`up-${randomSuffix()}`, { prefix: "x" });
      const store = await openS3(target);
      try {
        const data = randomBytes(12 * MiB + 123);
        const up = await startUpload(store, s3Key(target, "big.bin"), { partSizeBytes: 5 * MiB });
        // Odd chunk sizes cross part boundaries.
        for (let i = 0; i < data.length; i += 777_777) await up.write(data.subarray(i, i + 777_777));
        const r = await up.finish();
        expect(r).toMatchObject({
          key: "x/big.bin",
          size: data.length,
          parts: 3,
          verified: { size: true, etag: true },
        });
        const back = Buffer.from(await store.getBytes("x/big.bin"));
        expect(createHash("sha256").update(back).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));

        // Exactly two parts' worth: lib-storage sends 2 parts, not 2 + an empty one.
        const exact = await startUpload(store, s3Key(target, "exact.bin"), { partSizeBytes: 5 * MiB });
        await exact.write(data.subarray(0, 10 * MiB));
        expect((await exact.finish()).parts).toBe(2);

        const small = await startUpload(store, s3Key(target, "small.bin"));
        await small.write(Buffer.from("hello"));
        expect(await small.finish()).toMatchObject({ size: 5, parts: 1, verified: { etag: true } });

        expect((await store.list("x/")).map((o) => o.key)).toEqual(["x/big.bin", "x/exact.bin", "x/small.bin"]);
        await store.delete(["x/big.bin", "x/small.bin", "x/never-existed"]);
        expect((await store.list("x/")).map((o) => o.key)).toEqual(["x/exact.bin"]);
        expect(await store.head("x/big.bin")).toBeNull();
      } finally {
        store.close();
      }
    },
    SLOW,
  );

  test(
    "sdkChecksums when_required still uploads and verifies by size and ETag",
    async () => {
      const target = await s3.target(`wr-${randomSuffix()}`, { sdkChecksums: "when_required" });
      const store = await openS3(target);
      try {
        const up = await startUpload(store, "k.bin", { partSizeBytes: 5 * MiB });
        await up.write(randomBytes(6 * MiB));
        expect(await up.finish()).toMatchObject({ parts: 2, verified: { size: true, etag: true, crc32: null } });
        expect((await testS3Target(target)).ok).toBe(true);
      } finally {
        store.close();
      }
    },
    SLOW,
  );

  test(
    "aborted upload leaves no object",
    async () => {
      const target = await s3.target(`ab-${randomSuffix()}`);
      const store = await openS3(target);
      try {
        const up = await startUpload(store, "gone.bin", { partSizeBytes: 5 * MiB });
        await up.write(randomBytes(6 * MiB));
        await up.abort(new Error("source failed"));
        expect(up.failure?.message).toBe("source failed");
        await expect(up.write(Buffer.from("x"))).rejects.toThrow("source failed");
        expect(await store.head("gone.bin")).toBeNull();
      } finally {
        store.close();
      }
    },
    SLOW,
  );
});
