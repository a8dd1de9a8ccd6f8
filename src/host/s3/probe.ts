/**
 * `testS3Target`: proves a target really works (the init wizard and `config check` use it) with
 * the operations a backup needs: put, head, get back byte-equal, list, delete, gone.
 */
import { randomBytes } from "node:crypto";
import { describeS3Error, openS3 } from "./client";
import { s3Key, type S3Target } from "./schema";

export type S3ProbeStep = "put" | "head" | "get" | "list" | "delete";

export type S3ProbeResult =
  | { ok: true; key: string; durationMs: number }
  | { ok: false; step: S3ProbeStep; error: string; durationMs: number };

export async function testS3Target(target: S3Target): Promise<S3ProbeResult> {
  const started = performance.now();
  const key = s3Key(target, `.odooops-probe-${Date.now()}-${randomBytes(4).toString("hex")}`);
  const payload = randomBytes(1024);
  const store = await openS3(target);
  let step: S3ProbeStep = "put";
  let written = false;
  try {
    await store.put(key, payload);
    written = true;
    step = "head";
    const info = await store.head(key);
    if (!info || info.size !== payload.byteLength)
      throw new Error(`object reports ${info?.size ?? "no"} bytes, wrote ${payload.byteLength}`);
    step = "get";
    const back = await store.getBytes(key);
    if (!Buffer.from(back).equals(payload)) throw new Error("object read back differs from what was written");
    step = "list";
    const listed = await store.list(key);
    if (!listed.some((o) => o.key === key)) throw new Error("object missing from the bucket listing");
    step = "delete";
    await store.delete([key]);
    written = false;
    if (await store.head(key)) throw new Error("object still present after delete");
    return { ok: true, key, durationMs: performance.now() - started };
  } catch (e) {
    return { ok: false, step, error: describeS3Error(e), durationMs: performance.now() - started };
  } finally {
    // Do not leave the probe object behind when a later step failed.
    if (written) await store.delete([key]).catch(() => undefined);
    store.close();
  }
}
