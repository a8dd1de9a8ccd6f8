/** Runs the real CLI in-process with an injected io whose fetch goes to an in-process API. */
import { runCli } from "../../src/cli/main";
import type { CliIo } from "../../src/cli/io";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCliWith(
  argv: string[],
  opts: {
    fetch: (url: string, init?: RequestInit) => Promise<Response>;
    env?: Record<string, string | undefined>;
    stdin?: string;
    interactive?: boolean;
  },
): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(
    argv,
    (globals): CliIo => ({
      stdout: (t) => {
        stdout += t;
      },
      stderr: (t) => {
        stderr += t;
      },
      env: opts.env ?? {},
      interactive: opts.interactive ?? false,
      readStdin: async () => opts.stdin ?? "",
      fetch: opts.fetch,
      globals,
    }),
  );
  return { code, stdout, stderr };
}
