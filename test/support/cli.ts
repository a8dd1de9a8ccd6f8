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

/**
 * The CLI of a user of the in-process API `api` (see makeTestApi), configured through the
 * environment as a user's shell would be; the URL's host is never reached, `api.fetch` answers.
 */
export function runCliOn(
  api: { fetch: (url: string, init?: RequestInit) => Promise<Response>; token: string },
  argv: string[],
): Promise<CliRun> {
  return runCliWith(argv, { fetch: api.fetch, env: { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: api.token } });
}
