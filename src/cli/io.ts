/**
 * Everything a CLI command touches outside itself, injected so tests run commands in-process
 * against an in-process API (see test/cli/).
 */
import { ApiClient, type Fetch } from "./client";
import { resolveCredentials } from "./credentials";

export interface Globals {
  url?: string;
  root?: string;
  json: boolean;
  quiet: boolean;
}

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** True only on a real TTY outside CI: prompts are never shown otherwise (clack would hang). */
  interactive: boolean;
  readStdin(): Promise<string>;
  fetch?: Fetch;
  globals: Globals;
}

export function client(io: CliIo): ApiClient {
  const { url, token } = resolveCredentials(io.globals, io.env);
  return new ApiClient(url, token, io.fetch);
}

/**
 * A reader that went away (`odooops env list | head -1`) is not a failure of the command: the
 * output it wanted was delivered, so the process ends quietly with 0 like any Unix filter would.
 */
function writeOrEndQuietly(stream: NodeJS.WriteStream, text: string) {
  try {
    stream.write(text);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EPIPE") process.exit(0);
    throw e;
  }
}

export function processIo(globals: Globals): CliIo {
  // Bun reports a closed pipe either from write() itself or later as a stream error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(0);
      throw e;
    });
  }
  return {
    stdout: (t) => writeOrEndQuietly(process.stdout, t),
    stderr: (t) => writeOrEndQuietly(process.stderr, t),
    env: process.env,
    interactive: process.stdin.isTTY === true && process.stdout.isTTY === true && !process.env.CI,
    readStdin: () => new Response(Bun.stdin.stream()).text(),
    globals,
  };
}

/** Pulls the global flags out of argv wherever they appear, so `odooops env list --json` and `odooops --json env list` agree. */
export function extractGlobals(argv: string[]): { globals: Globals; rest: string[] } {
  const globals: Globals = { json: false, quiet: false };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    if (flag === "--json") globals.json = true;
    else if (flag === "--quiet" || flag === "-q") globals.quiet = true;
    else if (flag === "--url" || flag === "--root") {
      const value = inline ?? argv[++i];
      if (value === undefined) rest.push(a);
      else globals[flag === "--url" ? "url" : "root"] = value;
    } else rest.push(a);
  }
  return { globals, rest };
}
