/**
 * Two processes joined by a kernel pipe: the producer's stdout IS the consumer's stdin, so the
 * bytes go process to process and never through the daemon (no copy into JS, no event-loop work
 * per chunk, nothing buffered here). Bun.spawn connects a child to another child's stdout by
 * pumping it through its own socket pair; a FIFO opened at both ends here and passed as file
 * descriptors is a real pipe instead. The FIFO lives in a private directory (0700) that is
 * removed as soon as both ends are open: nothing else can open it, and nothing stays on disk.
 */
import { closeSync, constants, openSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommandFailed } from "../errors";
import type { Command } from "./command";
import { processEnv, redactArgv, redactText, run, tail } from "./run";

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
/** Output kept per stream: these are data commands; their chatter is small, their errors short. */
const KEEP_CHARS = 64_000;

/** A named pipe only its owner can open. */
export function mkfifo(path: string): Command {
  return { argv: ["mkfifo", "-m", "600", "--", path], timeoutMs: 30_000 };
}

export interface PipeResult {
  /** The consumer's stdout (e.g. psql's `COPY 1234`). */
  stdout: string;
}

interface Side {
  cmd: Command;
  proc: Bun.Subprocess<"ignore" | Blob, "pipe" | number, "pipe">;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

async function collect(stream: ReadableStream<Uint8Array>, keep: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) keep(decoder.decode(chunk, { stream: true }));
  keep(decoder.decode());
}

function bounded(text: string): string {
  return text.length > KEEP_CHARS ? text.slice(-KEEP_CHARS / 2) : text;
}

function failure(side: Side, exitCode: number): CommandFailed {
  const timeout = side.cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new CommandFailed(
    redactArgv(side.cmd),
    side.timedOut ? null : exitCode,
    tail(redactText(side.cmd, side.stderr || side.stdout)),
    side.timedOut ? `command timed out after ${timeout} ms` : undefined,
  );
}

/**
 * Runs `from | into`. When one side fails the other is killed; the error is the side that
 * failed FIRST (the other one then fails only because its pipe broke). A consumer that saw
 * the end of its input may have written what came before a producer's failure: callers treat
 * any throw as a failed copy and discard the target.
 */
export async function runPipe(from: Command, into: Command, opts: { signal?: AbortSignal } = {}): Promise<PipeResult> {
  const dir = await mkdtemp(join(tmpdir(), "odooops-pipe-"));
  let readEnd: number;
  let writeEnd: number;
  try {
    const fifo = join(dir, "pipe");
    await run(mkfifo(fifo));
    // Opening one end of a FIFO blocks until the other is open, and a non-blocking read end
    // would be handed to the consumer as such: open a non-blocking reader, then the writer (a
    // reader exists: no wait), then the consumer's blocking reader (a writer exists: no wait).
    const probe = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      writeEnd = openSync(fifo, constants.O_WRONLY);
      try {
        readEnd = openSync(fifo, constants.O_RDONLY);
      } catch (e) {
        closeSync(writeEnd);
        throw e;
      }
    } finally {
      closeSync(probe);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const sides: Side[] = [];
  try {
    for (const [cmd, stdin, stdout] of [
      [from, from.stdin !== undefined ? new Blob([from.stdin]) : "ignore", writeEnd],
      [into, readEnd, "pipe"],
    ] as const) {
      const proc = Bun.spawn(cmd.argv, {
        cwd: cmd.cwd,
        env: processEnv(cmd),
        stdin,
        stdout,
        stderr: "pipe",
        signal: opts.signal,
      });
      sides.push({ cmd, proc, stdout: "", stderr: "", timedOut: false });
    }
  } catch (e) {
    for (const s of sides) s.proc.kill("SIGKILL");
    throw e;
  } finally {
    // The children hold their own copies; ours would keep the pipe open (no EOF, no SIGPIPE).
    closeSync(readEnd);
    closeSync(writeEnd);
  }
  let first: { side: Side; code: number } | null = null;
  const waits = sides.map(async (side) => {
    const timer = setTimeout(() => {
      side.timedOut = true;
      side.proc.kill("SIGKILL");
    }, side.cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const output = [collect(side.proc.stderr, (t) => (side.stderr = bounded(side.stderr + t)))];
    if (side.proc.stdout instanceof ReadableStream)
      output.push(collect(side.proc.stdout, (t) => (side.stdout = bounded(side.stdout + t))));
    const code = await side.proc.exited;
    clearTimeout(timer);
    await Promise.all(output);
    const ok = code === 0 || (side.cmd.okExitCodes ?? []).includes(code);
    if (!ok && !first) {
      first = { side, code };
      for (const other of sides) if (other !== side) other.proc.kill("SIGKILL");
    }
  });
  await Promise.all(waits);
  const failed = first as { side: Side; code: number } | null;
  if (failed) throw failure(failed.side, failed.code);
  return { stdout: sides[1]?.stdout ?? "" };
}
