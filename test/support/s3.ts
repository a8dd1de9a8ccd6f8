/**
 * Test harness: a private s3rver (run with node: it does not work under Bun) on a free port with
 * its data in a temp dir. `stop()` + `start()` keep port and data, so a test can take the server
 * away mid-upload and bring it back.
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { join } from "node:path";
import { spawnStreaming } from "../../src/exec/run";
import { openS3 } from "../../src/host/s3/client";
import { S3TargetSchema, type S3Target, type S3TargetInput } from "../../src/host/s3/schema";
import { freePort } from "./ports";
import { makeTempDir, removeTempDir } from "./tmp";

const S3RVER = join(import.meta.dir, "..", "..", "node_modules", ".bin", "s3rver");

export interface TestS3 {
  endpoint: string;
  port: number;
  dir: string;
  /** A target for `bucket` (created if needed) with the s3rver credentials. */
  target(bucket: string, extra?: Partial<S3TargetInput>): Promise<S3Target>;
  /** A target without creating the bucket (for "wrong bucket" tests). */
  targetNoCreate(bucket: string, extra?: Partial<S3TargetInput>): S3Target;
  /** The running server's process id (null while stopped); the benchmarks read its CPU time. */
  pid(): number | null;
  /** Kills the server (SIGKILL: like a crash or a network cut); data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory. */
  start(): Promise<void>;
  /** stop + remove the data dir; safe to call twice. */
  destroy(): Promise<void>;
}

export async function startS3(): Promise<TestS3> {
  const dir = makeTempDir("odooops-s3-");
  const dataDir = join(dir, "data");
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let current: ReturnType<typeof spawnStreaming> | null = null;
  const killOnExit = () => current?.proc.kill("SIGKILL");
  process.on("exit", killOnExit);

  async function start(): Promise<void> {
    const p = spawnStreaming({
      argv: ["node", S3RVER, "-d", dataDir, "-a", "127.0.0.1", "-p", String(port), "--silent"],
    });
    current = p;
    const reader = p.stdout.getReader();
    const decoder = new TextDecoder();
    let seen = "";
    const deadline = Date.now() + 20_000;
    while (!seen.includes("listening on")) {
      if (Date.now() > deadline) throw new Error(`s3rver did not start: ${seen}`);
      const { done, value } = await reader.read();
      if (done) {
        await p.done();
        throw new Error(`s3rver exited: ${seen}`);
      }
      seen += decoder.decode(value, { stream: true });
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    void (async () => {
      for (;;) {
        const r = await reader.read().catch(() => ({ done: true as const, value: undefined }));
        if (r.done) return;
      }
    })();
  }

  async function stop(): Promise<void> {
    const p = current;
    current = null;
    if (!p) return;
    p.proc.kill("SIGKILL");
    await p.proc.exited;
  }

  function targetNoCreate(bucket: string, extra: Partial<S3TargetInput> = {}): S3Target {
    return S3TargetSchema.parse({
      endpoint,
      region: "us-east-1",
      bucket,
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
      forcePathStyle: true,
      ...extra,
    });
  }

  await start();
  return {
    endpoint,
    port,
    dir,
    targetNoCreate,
    async target(bucket, extra) {
      const t = targetNoCreate(bucket, extra);
      const store = await openS3(t);
      try {
        await store.client.send(new CreateBucketCommand({ Bucket: bucket })).catch((e: unknown) => {
          if (!(e instanceof Error && /BucketAlready/.test(e.name))) throw e;
        });
      } finally {
        store.close();
      }
      return t;
    },
    pid: () => current?.proc.pid ?? null,
    stop,
    start,
    async destroy() {
      await stop();
      process.off("exit", killOnExit);
      removeTempDir(dir);
    },
  };
}
