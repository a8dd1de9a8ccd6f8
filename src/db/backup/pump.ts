/**
 * Fan-out of one byte stream (a process's stdout) into several sinks while hashing and counting.
 * Backpressure: the next chunk is read only when every live sink took the previous one, so
 * memory stays flat however large the dump. A failing sink is dropped, the others go on; when
 * none is left the source is cancelled (the caller then kills the process).
 */
import { createHash } from "node:crypto";
import { spawnStreaming } from "../../exec/run";
import type { Command } from "../../exec/command";
import type { PartSink, SinkCommit } from "./sinks";

export type SinkOutcome = { ok: true; commit: SinkCommit } | { ok: false; error: Error };

export interface PumpOutcome {
  bytes: number;
  sha256: string;
  /** Sinks that failed while being written to. */
  failed: Map<PartSink, Error>;
  /** Reading stopped before the end because every sink had failed. */
  stoppedEarly: boolean;
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

export async function pump(source: ReadableStream<Uint8Array>, sinks: PartSink[]): Promise<PumpOutcome> {
  const hash = createHash("sha256");
  const failed = new Map<PartSink, Error>();
  let bytes = 0;
  const reader = source.getReader();
  try {
    for (;;) {
      const live = sinks.filter((s) => !failed.has(s));
      // No sinks at all = hash only (verifying a local file); all sinks failed = stop.
      if (sinks.length > 0 && live.length === 0) {
        await reader.cancel().catch(() => undefined);
        return { bytes, sha256: hash.digest("hex"), failed, stoppedEarly: true };
      }
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      bytes += value.byteLength;
      await Promise.all(
        live.map((s) =>
          s.write(value).catch(async (e: unknown) => {
            const err = asError(e);
            failed.set(s, err);
            await s.abort(err);
          }),
        ),
      );
    }
  } finally {
    reader.releaseLock();
  }
  return { bytes, sha256: hash.digest("hex"), failed, stoppedEarly: false };
}

export interface StreamedPart {
  bytes: number;
  sha256: string;
  /** The producing process failed (or was cancelled): no sink holds a usable copy. */
  sourceError: Error | null;
  /** Exit code of the producer when it succeeded (tar may exit 1 on a live filestore). */
  exitCode: number | null;
  sinks: Map<PartSink, SinkOutcome>;
}

/**
 * Runs `cmd`, streams its stdout into `sinks`, then commits each surviving sink. A sink is
 * committed only after the process exited successfully, so a truncated dump can never be
 * completed into an object or a file that looks whole.
 */
export async function streamCommand(cmd: Command, sinks: PartSink[], signal?: AbortSignal): Promise<StreamedPart> {
  const p = spawnStreaming(cmd, { signal });
  const result = new Map<PartSink, SinkOutcome>();
  let pumped: PumpOutcome;
  try {
    pumped = await pump(p.stdout, sinks);
  } catch (e) {
    p.proc.kill("SIGKILL");
    await p.proc.exited;
    const err = asError(e);
    for (const s of sinks) {
      await s.abort(err);
      result.set(s, { ok: false, error: err });
    }
    return { bytes: 0, sha256: "", sourceError: err, exitCode: null, sinks: result };
  }
  for (const [s, error] of pumped.failed) result.set(s, { ok: false, error });
  if (pumped.stoppedEarly) {
    // Nobody is listening any more: the producer's output has nowhere to go.
    p.proc.kill("SIGKILL");
    await p.proc.exited;
    return { bytes: pumped.bytes, sha256: pumped.sha256, sourceError: null, exitCode: null, sinks: result };
  }
  const live = sinks.filter((s) => !pumped.failed.has(s));
  try {
    await p.done();
  } catch (e) {
    const err = asError(e);
    for (const s of live) {
      await s.abort(err);
      result.set(s, { ok: false, error: err });
    }
    return { bytes: pumped.bytes, sha256: pumped.sha256, sourceError: err, exitCode: p.proc.exitCode, sinks: result };
  }
  await Promise.all(
    live.map(async (s) => {
      try {
        result.set(s, { ok: true, commit: await s.commit(pumped.bytes) });
      } catch (e) {
        const err = asError(e);
        await s.abort(err);
        result.set(s, { ok: false, error: err });
      }
    }),
  );
  return { bytes: pumped.bytes, sha256: pumped.sha256, sourceError: null, exitCode: p.proc.exitCode, sinks: result };
}
