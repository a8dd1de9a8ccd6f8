/**
 * The ONE place that spawns processes. argv arrays only; output streamed line by line to the
 * caller (job log); secrets redacted in echoes and errors; typed CommandFailed on failure.
 */
import { CommandFailed } from "../errors";
import { Secrets } from "../log";
import type { Command } from "./command";

export interface RunOptions {
  /** Called for every output line (already redacted). */
  onLine?: (stream: "stdout" | "stderr", line: string) => void;
  signal?: AbortSignal;
  /** Return the result instead of throwing on a non-zero exit. */
  nothrow?: boolean;
  /** Only stream lines, keep no copy (long-running followers such as `logs -f`). */
  discardOutput?: boolean;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const STDERR_TAIL_LINES = 30;

export function redactArgv(cmd: Command): string[] {
  const values = (cmd.redact ?? []).filter((v) => v.length > 0);
  return cmd.argv.map((a) => {
    let out = a;
    for (const v of values) out = out.split(v).join("***");
    return Secrets.redact(out);
  });
}

export function redactText(cmd: Command, text: string): string {
  let out = text;
  for (const v of cmd.redact ?? []) if (v) out = out.split(v).join("***");
  return Secrets.redact(out);
}

export function processEnv(cmd: Command): Record<string, string> {
  const base: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "DOCKER_HOST", "TMPDIR"]) {
    const v = process.env[k];
    if (v !== undefined) base[k] = v;
  }
  return { ...base, ...cmd.env };
}

async function pump(stream: ReadableStream<Uint8Array>, onText: (chunk: string) => void) {
  const decoder = new TextDecoder();
  for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }));
  onText(decoder.decode());
}

function lineSplitter(emit: (line: string) => void) {
  let buf = "";
  return {
    push(text: string) {
      buf += text;
      let i = buf.indexOf("\n");
      while (i >= 0) {
        emit(buf.slice(0, i));
        buf = buf.slice(i + 1);
        i = buf.indexOf("\n");
      }
    },
    flush() {
      if (buf) emit(buf);
      buf = "";
    },
  };
}

/** Starts a process whose stdout the caller consumes as a stream (pipelines: pg_dump → S3). */
export function spawnStreaming(cmd: Command, opts: { stdin?: "pipe" | "ignore"; signal?: AbortSignal } = {}) {
  const proc = Bun.spawn(cmd.argv, {
    cwd: cmd.cwd,
    env: processEnv(cmd),
    stdin: opts.stdin ?? (cmd.stdin !== undefined ? new Blob([cmd.stdin]) : "ignore"),
    stdout: "pipe",
    stderr: "pipe",
    signal: opts.signal,
  });
  let stderr = "";
  const stderrDone = pump(proc.stderr, (t) => {
    stderr += t;
    if (stderr.length > 64_000) stderr = stderr.slice(-32_000);
  });
  return {
    proc,
    stdout: proc.stdout,
    /** Resolves when the process exits; throws CommandFailed on a non-zero exit. */
    async done(): Promise<void> {
      const code = await proc.exited;
      await stderrDone;
      if (code !== 0 && !(cmd.okExitCodes ?? []).includes(code)) {
        throw new CommandFailed(redactArgv(cmd), code, tail(redactText(cmd, stderr)));
      }
    },
  };
}

/** The last lines of a process's output, for errors. */
export function tail(text: string): string {
  return text.trimEnd().split("\n").slice(-STDERR_TAIL_LINES).join("\n");
}

export async function run(cmd: Command, opts: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  const proc = Bun.spawn(cmd.argv, {
    cwd: cmd.cwd,
    env: processEnv(cmd),
    stdin: cmd.stdin !== undefined ? new Blob([cmd.stdin]) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    signal: opts.signal,
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS);

  let stdout = "";
  let stderr = "";
  const outLines = lineSplitter((l) => opts.onLine?.("stdout", redactText(cmd, l)));
  const errLines = lineSplitter((l) => opts.onLine?.("stderr", redactText(cmd, l)));
  await Promise.all([
    pump(proc.stdout, (t) => {
      if (!opts.discardOutput) stdout += t;
      outLines.push(t);
    }),
    pump(proc.stderr, (t) => {
      if (!opts.discardOutput) stderr += t;
      errLines.push(t);
    }),
  ]);
  outLines.flush();
  errLines.flush();
  const exitCode = await proc.exited;
  clearTimeout(timer);
  const result = { exitCode, stdout, stderr, durationMs: performance.now() - started };
  const ok = exitCode === 0 || (cmd.okExitCodes ?? []).includes(exitCode);
  if (!ok && !opts.nothrow) {
    throw new CommandFailed(
      redactArgv(cmd),
      timedOut ? null : exitCode,
      tail(redactText(cmd, stderr || stdout)),
      timedOut ? `command timed out after ${cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms` : undefined,
    );
  }
  return result;
}
