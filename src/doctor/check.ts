/**
 * What a doctor check is and how a report is run and summed up. A check never throws: an
 * unexpected error becomes a `fail` naming the check, so one broken probe cannot hide the others.
 */
import { errorText } from "../errors";
import type { DoctorContext } from "./context";

export type CheckStatus = "pass" | "warn" | "fail" | "skip";

export interface CheckOutcome {
  status: CheckStatus;
  message: string;
  /** What to do about a warn or fail, for people: advice, or `command` as one pasteable line. */
  hint?: string;
  /**
   * When the fix is one command: its argv, to run as root exactly as given (no shell). Only
   * commands that fix the problem on this host are given (each kind is run by test/doctor/hints.test.ts).
   */
  command?: string[];
  /** Debian packages whose installation fixes this (`odooops init` offers to install them). */
  install?: string[];
}

export interface CheckResult extends CheckOutcome {
  id: string;
  title: string;
}

export interface Check {
  id: string;
  title: string;
  run(ctx: DoctorContext): Promise<CheckOutcome>;
}

/** A fix that is one command, with what it does in a few words. */
export interface CommandFix {
  command: string[];
  note?: string;
}

/** Advice in words, or a command. */
export type Hint = string | CommandFix;

export const fix = (command: string[], note?: string): CommandFix => (note ? { command, note } : { command });

const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** argv as a line a POSIX shell reads back into the same argv. */
export function shellLine(argv: string[]): string {
  return argv.map((a) => (PLAIN.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

function hintFields(h: Hint): { hint: string; command?: string[] } {
  if (typeof h === "string") return { hint: h };
  const line = shellLine(h.command);
  return { hint: h.note ? `${line} (${h.note})` : line, command: h.command };
}

export const pass = (message: string): CheckOutcome => ({ status: "pass", message });
export const warn = (message: string, hint: Hint): CheckOutcome => ({ status: "warn", message, ...hintFields(hint) });
export const fail = (message: string, hint: Hint, install?: string[]): CheckOutcome => ({
  status: "fail",
  message,
  ...hintFields(hint),
  ...(install ? { install } : {}),
});
export const skip = (message: string): CheckOutcome => ({ status: "skip", message });

export async function runCheck(check: Check, ctx: DoctorContext): Promise<CheckResult> {
  let outcome: CheckOutcome;
  try {
    outcome = await check.run(ctx);
  } catch (e) {
    outcome = fail(
      `the check itself failed: ${errorText(e)}`,
      "report this with the output of `odooops doctor --json`",
    );
  }
  return { id: check.id, title: check.title, ...outcome };
}

/** Runs the checks concurrently (they share the context's cached probes); results keep the given order. */
export function runChecks(checks: Check[], ctx: DoctorContext): Promise<CheckResult[]> {
  return Promise.all(checks.map((c) => runCheck(c, ctx)));
}

export interface Summary {
  ok: boolean;
  counts: Record<CheckStatus, number>;
}

/** ok unless something failed: warnings and skips do not change the exit code. */
export function summarize(results: CheckResult[]): Summary {
  const counts: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const r of results) counts[r.status]++;
  return { ok: counts.fail === 0, counts };
}

const MARK: Record<CheckStatus, string> = { pass: "✓", warn: "!", fail: "✗", skip: "-" };

/** The human report: one line per check, the fix indented under a warn or fail. */
export function renderReport(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.id.length));
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${MARK[r.status]} ${r.id.padEnd(width)}  ${r.message}`);
    if (r.hint && (r.status === "warn" || r.status === "fail")) lines.push(`  ${" ".repeat(width)}  fix: ${r.hint}`);
  }
  const { counts } = summarize(results);
  const parts = [
    `${counts.pass} passed`,
    `${counts.warn} warning${counts.warn === 1 ? "" : "s"}`,
    `${counts.fail} failed`,
  ];
  if (counts.skip > 0) parts.push(`${counts.skip} skipped`);
  lines.push(parts.join(", "));
  return `${lines.join("\n")}\n`;
}
