/**
 * Commands are data: host adapters build these, exactly one executor (./run.ts) spawns them.
 * Never a shell string: `argv[0]` is the program, every other element one argument.
 */
export interface Command {
  argv: string[];
  /** Extra environment for the process (merged over a minimal inherited PATH/HOME/LANG). */
  env?: Record<string, string>;
  stdin?: string | Uint8Array;
  /** Values masked as *** wherever the command or its output is echoed. */
  redact?: string[];
  cwd?: string;
  /** Kill the process (SIGKILL) after this long; default 10 minutes. */
  timeoutMs?: number;
  /** Exit codes treated as success besides 0. */
  okExitCodes?: number[];
}

export function command(argv: string[], opts: Omit<Command, "argv"> = {}): Command {
  return { argv, ...opts };
}
