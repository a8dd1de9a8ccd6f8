/**
 * Loading a plain SQL dump (an Odoo export's dump.sql, i.e. anyone's file) with psql, the only
 * client that reads its `COPY … FROM stdin` blocks, without the file acting on this host:
 *   - psql logs in as the env's own role (withTenant's login, host/postgres/tenant.ts): no superuser in the session, so neither
 *     `RESET ROLE` nor any SQL in the file gets more than what the tenant already has;
 *   - psql meta-commands are refused by psql itself: the stream starts with `\restrict <key>`
 *     (a random key the file cannot know), after which psql rejects every backslash command
 *     wherever its own lexer finds one (mid-line too, where a line filter would miss `\!`).
 *   - `\unrestrict` is the one command psql still runs when restricted, and psql before
 *     18.6/17.11/16.15/15.19/14.24 expands backticks in its argument (CVE-2026-18408: a shell
 *     command): a dump containing the bytes `\unrestrict` anywhere is refused before psql sees them.
 *   - when odooops runs as root, psql itself runs as `nobody` with no-new-privs (setpriv): it
 *     only reads stdin and talks to PostgreSQL, so a hole in psql's own checks gets no root.
 * pg_dump ≥ 17.6/16.10/15.14/14.19/13.22 wraps its output in its own `\restrict K` …
 * `\unrestrict K`; those two lines are left out of the stream (anywhere else they are refused).
 */
import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import type { Command } from "../exec/command";
import { spawnStreaming } from "../exec/run";
import { CommandFailed, Invalid } from "../errors";
import { FIXED_CLIENT_VERSIONS } from "../host/postgres/clients";
import { assertIdent } from "../host/postgres/quote";
import type { PgAdmin } from "./backup";

const DAY_MS = 24 * 3600_000;
/** pg_dump writes its `\restrict` line among the first few lines and `\unrestrict` last. */
const EDGE_BYTES = 64 * 1024;
const UNRESTRICT = Buffer.from("\\unrestrict");

function unrestrictRefused(): Invalid {
  return new Invalid("dump.sql contains a psql meta-command (\\unrestrict): refused; an uploaded dump is SQL only");
}

/**
 * Yields the ranges' bytes, each checked for `\unrestrict` before it is passed on: the last
 * bytes of a chunk are held back until the next one shows the needle is not split across them.
 */
async function* checkedBytes(file: string, ranges: Range[]): AsyncGenerator<Uint8Array> {
  const keep = UNRESTRICT.length - 1;
  let carry = Buffer.alloc(0);
  for (const r of ranges) {
    for await (const chunk of Bun.file(file).slice(r.start, r.end).stream()) {
      const buf = Buffer.concat([carry, chunk]);
      if (buf.includes(UNRESTRICT)) throw unrestrictRefused();
      const cut = Math.max(0, buf.length - keep);
      carry = buf.subarray(cut);
      if (cut > 0) yield buf.subarray(0, cut);
    }
  }
  if (carry.length > 0) yield carry;
}

/** The unprivileged account psql runs as when odooops is root (Debian's nobody:nogroup). */
export const NOBODY = { uid: 65534, gid: 65534 };

/**
 * psql reading the dump from stdin into `db`, logged in as `as`, one transaction, stopping at
 * the first error; as `runAs` (uid/gid, no supplementary groups, no new privileges) when given.
 */
export function psqlLoad(as: PgAdmin, db: string, runAs?: { uid: number; gid: number }): Command {
  const drop = runAs
    ? ["setpriv", `--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, "--clear-groups", "--no-new-privs", "--"]
    : [];
  return {
    argv: [
      ...drop,
      "psql",
      "-h",
      as.host,
      "-p",
      String(as.port),
      "-U",
      as.user,
      "--no-password",
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      "--single-transaction",
      "-d",
      assertIdent(db, "database"),
      "-f",
      "-",
    ],
    env: { PGPASSWORD: as.password, PGCONNECT_TIMEOUT: "15", PGAPPNAME: "odooops-import" },
    redact: [as.password],
    timeoutMs: DAY_MS,
  };
}

interface Range {
  start: number;
  end: number;
}

/** Lines of `text` (read as latin1: one char per byte) with their byte offsets. */
function linesOf(text: string, base: number): { line: string; start: number; end: number }[] {
  const out: { line: string; start: number; end: number }[] = [];
  let at = 0;
  while (at < text.length) {
    const nl = text.indexOf("\n", at);
    const stop = nl < 0 ? text.length : nl + 1;
    out.push({
      line: text.slice(at, nl < 0 ? text.length : nl).replace(/\r$/, ""),
      start: base + at,
      end: base + stop,
    });
    at = stop;
  }
  return out;
}

const ignorable = (line: string) => line.trim() === "" || line.startsWith("--");

async function readAt(file: string, position: number, length: number): Promise<string> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, position);
    return buf.subarray(0, bytesRead).toString("latin1");
  } finally {
    await fh.close();
  }
}

/**
 * The byte ranges of `file` to feed psql: all of it, minus pg_dump's own `\restrict K` line
 * (only before the first statement) and its matching `\unrestrict K` (only after the last).
 */
export async function dumpRanges(file: string, size: number): Promise<Range[]> {
  const head = linesOf(await readAt(file, 0, Math.min(size, EDGE_BYTES)), 0);
  const first = head.find((l) => !ignorable(l.line));
  const key = first ? /^\\restrict ([A-Za-z0-9]+)$/.exec(first.line)?.[1] : undefined;
  if (!first || !key) return [{ start: 0, end: size }];
  const tailStart = Math.max(first.end, size - EDGE_BYTES);
  const tail = linesOf(await readAt(file, tailStart, size - tailStart), tailStart);
  // A tail read from the middle of a line starts with a fragment: never a candidate.
  const candidates = tailStart === first.end ? tail : tail.slice(1);
  const last = candidates.filter((l) => !ignorable(l.line)).at(-1);
  const ranges: Range[] = [{ start: 0, end: first.start }];
  if (last && last.line === `\\unrestrict ${key}`)
    ranges.push({ start: first.end, end: last.start }, { start: last.end, end: size });
  else ranges.push({ start: first.end, end: size });
  return ranges.filter((r) => r.end > r.start);
}

function explain(e: unknown): unknown {
  if (!(e instanceof CommandFailed)) return e;
  const refused = e.stderrTail.split("\n").find((l) => l.includes("backslash commands are restricted"));
  if (refused)
    return new Invalid(
      `dump.sql contains a psql meta-command (a backslash command, ${refused.split(": error:")[0]}): refused; an uploaded dump is SQL only`,
    );
  if (/invalid command \\restrict/.test(e.stderrTail)) {
    return new Invalid(
      `this host's psql cannot refuse meta-commands (no \\restrict, CVE-2025-8714): upgrade the PostgreSQL client to ${FIXED_CLIENT_VERSIONS} or later`,
    );
  }
  return e;
}

/** Loads `file` into `db` (empty, owned by `as.user`) as described above; throws on any error. */
export async function loadPlainDump(as: PgAdmin, db: string, file: string, signal?: AbortSignal): Promise<void> {
  const size = (await Bun.file(file).stat()).size;
  const ranges = await dumpRanges(file, size);
  const p = spawnStreaming(psqlLoad(as, db, process.getuid?.() === 0 ? NOBODY : undefined), { stdin: "pipe", signal });
  const stdin = p.proc.stdin;
  if (typeof stdin !== "object" || stdin === null) throw new Error("psql stdin is not a pipe");
  // SELECT set_config(…) in the dump prints rows: drain them so psql never blocks on stdout.
  const drained = (async () => {
    for await (const _ of p.stdout) void _;
  })().catch(() => undefined);
  let feedError: unknown = null;
  try {
    await stdin.write(`\\restrict ${randomBytes(32).toString("hex")}\n`);
    for await (const chunk of checkedBytes(file, ranges)) {
      await stdin.write(chunk);
      await stdin.flush();
    }
    await stdin.end();
  } catch (e) {
    // psql stopped reading (ON_ERROR_STOP: its stderr says why), or the file was refused or
    // could not be read: then psql must not see EOF, which would commit a half-fed transaction.
    feedError = e;
    p.proc.kill("SIGKILL");
  }
  await drained;
  try {
    await p.done();
  } catch (e) {
    throw feedError instanceof Invalid ||
      (feedError !== null && e instanceof CommandFailed && e.stderrTail.trim() === "")
      ? feedError
      : explain(e);
  }
  if (feedError !== null) throw feedError;
}
