/**
 * Failure reasons people can read in statuses (a job step, the job, an env's status, a
 * deployment): for a failed command, the tool's own sentence plus the one meaningful line of its
 * output, at most 300 characters; any other error's message at most 2,000 (it may quote a
 * tenant's test failures and log tail). Either way safe for a terminal (src/tenant-text.ts).
 * The full command and its output stay in the job log.
 */
import { basename } from "node:path";
import { CommandFailed, errorText } from "../errors";
import { capped, displayText } from "../tenant-text";

export const MAX_REASON = 300;
/** An error odooops worded itself may quote several lines of what failed (failing tests, a log tail). */
export const MAX_MESSAGE_REASON = 2_000;

/** Lines that say where to read more, never what went wrong. */
const NOISE = [/^(See|Run) '[^']*--help'/, /^\[notice\]/, /^signal process started$/];
/** Lines that name themselves an error: the first one is the cause (later ones are consequences). */
const MARKED = /\b(error|fatal|emerg|crit|alert|panic)\b/i;
const FAILURE_WORDS =
  /\b(failed|failure|invalid|denied|refused|not found|no such|cannot|can't|unable|unknown|permission)\b/i;

/** Prefixes that repeat who spoke and how loud: `docker: Error response from daemon: `, nginx's log header … */
const PREFIXES = [
  /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d (\[\w+\] )?\d+#\d+: /,
  /^[\w.-]+: (?=(error|fatal|Error response from daemon)\b|\[\w+\] )/i,
  /^\[(emerg|alert|crit|error|warn)\] /,
  /^(Error response from daemon|error|fatal)(:\s*|\s+)/i,
];

function strip(line: string): string {
  let out = line.trim();
  for (let changed = true; changed; ) {
    changed = false;
    for (const p of PREFIXES) {
      const next = out.replace(p, "");
      if (next !== out && next.length > 0) {
        out = next.trim();
        changed = true;
      }
    }
  }
  return out.replace(/\s+/g, " ");
}

/**
 * A Python traceback's cause: the first unindented line after the last `Traceback (most recent
 * call last):` (`psycopg2.errors.UndefinedColumn: column …`). Odoo logs its ERROR/CRITICAL line
 * first (`Failed to initialize database`), which only says that something failed.
 */
function tracebackCause(output: string): string | null {
  const lines = output.split("\n");
  const start = lines.findLastIndex((l) => l.trim() === "Traceback (most recent call last):");
  if (start < 0) return null;
  return (
    lines
      .slice(start + 1)
      .find((l) => l.trim().length > 0 && !/^\s/.test(l))
      ?.trim() ?? null
  );
}

/** The line of a command's output that says what went wrong, without its prefixes; null when silent. */
export function meaningfulLine(output: string): string | null {
  const cause = tracebackCause(output);
  if (cause) return cause;
  const lines = output
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !NOISE.some((n) => n.test(strip(l))));
  const line = lines.find((l) => MARKED.test(l)) ?? lines.find((l) => FAILURE_WORDS.test(l)) ?? lines.at(-1);
  return line === undefined ? null : strip(line);
}

/** `docker run`, `psql`, `nginx`: the program and, when there is one, its subcommand. */
function programOf(argv: string[]): string {
  const sub = argv[1] !== undefined && /^[a-z][a-z-]*$/.test(argv[1]) ? ` ${argv[1]}` : "";
  return `${basename(argv[0] ?? "command")}${sub}`;
}

/**
 * The reason stored for a failed step or job and shown in `jobs show` and `env get`: every
 * failure passes here, so this is where what a tenant's code printed into it is made safe. Only a
 * command's failure is rewritten: its message carries the whole argv and stderr tail. Messages
 * odooops wrote itself (with the lines they chose to quote) keep their wording.
 */
export function readableReason(err: unknown): string {
  if (!(err instanceof CommandFailed)) return capped(displayText(errorText(err)), MAX_MESSAGE_REASON);
  const sentence = err.reason ?? `${programOf(err.argv)} exited with ${err.exitCode_}`;
  const line = meaningfulLine(displayText(err.stderrTail));
  return capped(displayText(line ? `${sentence}: ${line}` : sentence), MAX_REASON);
}
