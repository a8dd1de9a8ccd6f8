/**
 * Where a backup part's bytes go while they stream: a local file and/or an S3 multipart upload.
 * Each sink fails on its own (an S3 outage must not cost the local copy) and is verified on
 * commit; a part is never visible under its final name before it is complete.
 */
import { open, rename, rm, stat, type FileHandle } from "node:fs/promises";
import type { Command } from "../../exec/command";
import { spawnStreaming } from "../../exec/run";
import { startUpload } from "../../host/s3/upload";
import type { S3Store } from "../../host/s3/client";
import type { UploadVerification } from "../../host/s3/upload";
import { PARTIAL_SUFFIX } from "./layout";

export type SinkTarget = "local" | "s3" | "process";

export interface SinkCommit {
  /** File path or object key. */
  location: string;
  size: number;
  /** S3 only: what HeadObject confirmed. */
  s3?: { verified: UploadVerification; etag: string | null; parts: number };
}

export interface PartSink {
  readonly target: SinkTarget;
  write(chunk: Uint8Array): Promise<void>;
  /** Completes the part and checks it landed whole; throws if not. */
  commit(expectedBytes: number): Promise<SinkCommit>;
  /** Drops whatever was written; never throws. */
  abort(reason: Error): Promise<void>;
}

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.byteLength) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
    off += bytesWritten;
  }
}

/** Writes `<path>.partial`; commit fsyncs and renames it to `path`. */
export async function localFileSink(path: string): Promise<PartSink> {
  const partial = `${path}${PARTIAL_SUFFIX}`;
  const fh = await open(partial, "w", 0o600);
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await fh.close();
    }
  };
  return {
    target: "local",
    write: (chunk) => writeAll(fh, chunk),
    async commit(expectedBytes) {
      await fh.sync();
      await close();
      const size = (await stat(partial)).size;
      if (size !== expectedBytes) throw new Error(`local file has ${size} bytes, streamed ${expectedBytes}`);
      await rename(partial, path);
      return { location: path, size };
    },
    async abort() {
      await close().catch(() => undefined);
      await rm(partial, { force: true }).catch(() => undefined);
    },
  };
}

export async function s3Sink(
  store: S3Store,
  key: string,
  opts: { signal?: AbortSignal; partSizeBytes?: number; expectedBytes?: number | null } = {},
): Promise<PartSink> {
  const up = await startUpload(store, key, opts);
  return {
    target: "s3",
    write: (chunk) => up.write(chunk),
    async commit(expectedBytes) {
      const r = await up.finish();
      if (r.size !== expectedBytes) throw new Error(`uploaded ${r.size} bytes, streamed ${expectedBytes}`);
      return { location: key, size: r.size, s3: { verified: r.verified, etag: r.etag, parts: r.parts } };
    },
    abort: (reason) => up.abort(reason),
  };
}

/** Feeds a process's stdin (e.g. `tar -x`); commit closes stdin and requires a successful exit. */
export function processSink(cmd: Command, signal?: AbortSignal): PartSink {
  const p = spawnStreaming(cmd, { stdin: "pipe", signal });
  const stdin = p.proc.stdin;
  if (typeof stdin !== "object" || stdin === null) throw new Error("process stdin is not a pipe");
  // Drain stdout so a chatty process never blocks on a full pipe.
  const drained = (async () => {
    for await (const _ of p.stdout) void _;
  })().catch(() => undefined);
  let written = 0;
  return {
    target: "process",
    async write(chunk) {
      await stdin.write(chunk);
      written += chunk.byteLength;
      await stdin.flush();
    },
    async commit(expectedBytes) {
      await stdin.end();
      await drained;
      await p.done();
      if (written !== expectedBytes) throw new Error(`process got ${written} bytes, streamed ${expectedBytes}`);
      return { location: cmd.argv.join(" "), size: written };
    },
    async abort() {
      p.proc.kill("SIGKILL");
      await p.proc.exited;
    },
  };
}
