/**
 * The check an anonymized copy passes before it can be swapped in, in two parts:
 * - `checkPii`, right after anonymizing: the database (check-db.ts) and the filestore
 *   (check-files.ts) hold none of the source's e-mail addresses or phone numbers;
 * - `checkCopyState`, after neutralizing: nothing active that acts for the source, a new
 *   identity, none of the source's password hashes (check-state.ts).
 * Either throws Invalid naming every finding (`table.column: N …`, masked samples only); the job
 * fails and the copy is discarded. A pass is logged with what was read, so it can be audited.
 */
import type { SQL } from "bun";
import { Invalid } from "../../errors";
import type { TenantLogin } from "../../host/postgres/tenant";
import type { Logger } from "../../log";
import { readPii, type PiiHit, type PiiNeedles, type PiiRest, type PiiScanStats } from "../backup/pii";
import { scanCopy } from "./check-db";
import { scanFilestore, type FileScanResult } from "./check-files";
import { checkState, type StateExpectations } from "./check-state";
import { maskValue, NeedleMatcher } from "./pii-match";

export interface PiiCheckSummary extends PiiScanStats {
  emails: number;
  phones: number;
  files: number;
  fileBytes: number;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/** `table.column: 2 emails (e.g. cus***)`. */
export function describeHit(h: PiiHit): string {
  return `${h.table}.${h.column}: ${plural(h.count, h.kind)} (e.g. ${h.sample})`;
}

function describeFiles(where: string, f: FileScanResult["contents"]): string | null {
  const n = f.emails.size + f.phones.size;
  if (n === 0) return null;
  const sample = maskValue([...f.emails, ...f.phones][0] ?? "");
  const parts = [
    f.emails.size > 0 ? plural(f.emails.size, "email") : "",
    f.phones.size > 0 ? plural(f.phones.size, "phone") : "",
  ].filter(Boolean);
  // A file's path may itself be the leak: only its start is shown.
  return `${where}: ${parts.join(", ")} (e.g. ${sample}; in ${f.files.map((p) => `${p.slice(0, 8)}***`).join(", ")})`;
}

/**
 * What the PII check keeps of the source's needles: the matcher and what its log shows. Added
 * to the matcher as they are read, the needles never exist as string arrays during the copy and
 * the scan (they were the check's largest memory, held through the whole step). `emails`,
 * `phones`: distinct addresses, distinct numbers by their core (pii-match.ts).
 */
export interface SourceNeedles {
  matcher: NeedleMatcher;
  emails: number;
  phones: number;
  sources: string[];
}

/**
 * The source's needles (a tenant session as the source's role), matched as they are read: the
 * same values as `collectPii`'s, never all at once as JS strings (at 2 GiB, ~1.9 million of
 * them: the daemon's peak grew with the source). `state` is what checkCopyState needs.
 */
export async function collectNeedles(source: SQL, log?: Logger): Promise<{ needles: SourceNeedles; state: PiiRest }> {
  const t0 = performance.now();
  const matcher = new NeedleMatcher();
  const state = await readPii(source, (kind, v) => (kind === "email" ? matcher.addEmail(v) : matcher.addPhone(v)));
  // Its own time: reading the source is not the check's scan (bench/anonymized-clone.ts reads both).
  log?.info("PII needles read", {
    emails: matcher.emailCount,
    phones: matcher.phoneCount,
    seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
  });
  return {
    needles: { matcher, emails: matcher.emailCount, phones: matcher.phoneCount, sources: state.sources },
    state,
  };
}

export function matchNeedles(needles: PiiNeedles): SourceNeedles {
  const matcher = new NeedleMatcher(needles);
  return { matcher, emails: matcher.emailCount, phones: matcher.phoneCount, sources: needles.sources };
}

/**
 * Database and filestore scan; `filestoreDir` null = the copy has no filestore. `sql`: a tenant
 * session of `login` (the copy's role into the copy), which the scan's psql sessions also use.
 */
export async function checkPii(
  sql: SQL,
  login: TenantLogin,
  source: PiiNeedles | SourceNeedles,
  opts: { exclude: string[]; filestoreDir: string | null; jobs?: number },
  log: Logger,
): Promise<PiiCheckSummary> {
  const t0 = performance.now();
  // One matcher for both halves: its needles are the check's largest memory.
  const needles = "matcher" in source ? source : matchNeedles(source);
  const { matcher } = needles;
  // The filestore's reads overlap the database's.
  const [{ hits, stats }, files] = await Promise.all([
    scanCopy(login, matcher, { exclude: opts.exclude, jobs: opts.jobs }),
    opts.filestoreDir ? scanFilestore(opts.filestoreDir, matcher) : null,
  ]);
  const findings = hits.map(describeHit);
  // Odoo never writes large objects; their bytes are outside every table the scan reads.
  const [lo] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_catalog.pg_largeobject_metadata`;
  if ((lo?.n ?? 0) > 0) findings.push(`pg_largeobject: ${plural(lo?.n ?? 0, "large object")} (not scanned: drop them)`);
  if (files) {
    for (const line of [
      describeFiles("filestore (file contents)", files.contents),
      describeFiles("filestore (file names)", files.names),
    ])
      if (line) findings.push(line);
  }
  const summary: PiiCheckSummary = {
    ...stats,
    emails: needles.emails,
    phones: needles.phones,
    files: files?.files ?? 0,
    fileBytes: files?.bytes ?? 0,
  };
  if (findings.length > 0) {
    throw new Invalid(
      `PII check failed: source data remains after anonymizing in ${findings.join("; ")}; add rules for these columns (or exclude them knowingly)`,
      { hits },
    );
  }
  // The time is part of what an auditor (and bench/anonymized-clone.ts) reads.
  log.info("PII check passed", {
    ...summary,
    seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
    excluded: opts.exclude.join(" ") || "none",
    needlesFrom: needles.sources.join(" "),
  });
  return summary;
}

/** Crons, mail servers, identity and password hashes (see check-state.ts). */
export async function checkCopyState(
  sql: SQL,
  needles: Pick<PiiNeedles, "identity" | "passwordHashes">,
  expect: StateExpectations,
  log: Logger,
): Promise<void> {
  const findings = await checkState(sql, needles, expect);
  if (findings.length > 0) throw new Invalid(`copy check failed: ${findings.join("; ")}`, { findings });
  log.info("copy check passed", { ...expect, passwordHashes: needles.passwordHashes.length });
}
