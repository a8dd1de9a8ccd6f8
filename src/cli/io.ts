/**
 * Everything a CLI command touches outside itself, injected so tests run commands in-process
 * against an in-process API (see test/cli/).
 */
import { ApiClient, type Fetch } from "./client";
import { resolveCredentials } from "./credentials";
import { viaTransport } from "./via";

export interface Globals {
  url?: string;
  /** ssh://user@coordinator[:port]: the API over SSH (env ODOOOPS_VIA). */
  via?: string;
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
  /** Ends what the transport holds open (the --via SSH connection). */
  close?: () => void;
}

export function client(io: CliIo): ApiClient {
  // Over SSH the coordinator side picks the credential (api-stdio); none is sent from here.
  const via = io.globals.via ?? io.env.ODOOOPS_VIA;
  if (via && io.fetch) return new ApiClient(via, null, io.fetch);
  const { url, token } = resolveCredentials(io.globals, io.env);
  return new ApiClient(url, token, io.fetch);
}

/**
 * A reader that went away (`odooops env list | head -1`) is not a failure of the command: the
 * output it wanted was delivered, so the process ends quietly with 0 like any Unix filter would.
 * Not for the daemon (`quietOnClosedPipe: false`): its closed log stream must stay a crash
 * (exit 1) that systemd's Restart=on-failure answers, not a clean stop.
 */
export function processIo(globals: Globals, opts: { quietOnClosedPipe: boolean }): CliIo {
  if (opts.quietOnClosedPipe) {
    // Bun reports a closed pipe as an error event on the stream, after write() returned.
    for (const stream of [process.stdout, process.stderr]) {
      stream.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "EPIPE") process.exit(0);
        throw e;
      });
    }
  }
  const via = globals.via ?? process.env.ODOOOPS_VIA;
  const transport = via ? viaTransport(via, process.env) : null;
  return {
    fetch: transport?.fetch,
    close: transport?.close,
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
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
    const [flag, inline] =
      a.startsWith("--") && a.includes("=")
        ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]
        : [a, undefined];
    if (flag === "--json") globals.json = true;
    else if (flag === "--quiet" || flag === "-q") globals.quiet = true;
    else if (flag === "--url" || flag === "--root" || flag === "--via") {
      const value = inline ?? argv[++i];
      if (value === undefined) rest.push(a);
      else globals[flag.slice(2) as "url" | "root" | "via"] = value;
    } else rest.push(a);
  }
  return { globals, rest };
}
