import { AppError } from "../errors";
import type { CliIo } from "./io";

/**
 * A failure the command already printed in full (doctor's report): only its exit code is left.
 * Here, not in main.ts, so commands need not import the module that imports them.
 */
export class AlreadyReported extends AppError {
  override readonly code = "already_reported";
}

export function printJson(io: CliIo, data: unknown) {
  io.stdout(`${JSON.stringify(data, null, 2)}\n`);
}

/** Human message on stderr, silenced by --quiet; stdout stays clean for --json and pipes. */
export function note(io: CliIo, text: string) {
  if (!io.globals.quiet) io.stderr(`${text}\n`);
}

export function printTable(io: CliIo, rows: Record<string, unknown>[], columns: { key: string; label: string }[]) {
  if (rows.length === 0) {
    note(io, "(none)");
    return;
  }
  const cells = rows.map((r) => columns.map((c) => formatCell(r[c.key])));
  const widths = columns.map((c, i) => Math.max(c.label.length, ...cells.map((row) => row[i].length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  io.stdout(`${line(columns.map((c) => c.label.toUpperCase()))}\n`);
  for (const row of cells) io.stdout(`${line(row)}\n`);
}

function formatCell(v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (typeof v === "string") return v;
  return String(v);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}
