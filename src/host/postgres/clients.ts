/**
 * PostgreSQL client releases and the client-side holes that matter to odooops, which runs
 * pg_dump, pg_restore and psql on tenant data. CVE-2025-8714 / CVE-2025-8715: a dump (or an
 * object name in it) can carry psql meta-commands that run shell commands on the machine that
 * restores it; fixed in 17.6, 16.10, 15.14, 14.19 and 13.22 (psql gained `\restrict`, which
 * imports rely on), never in 12 or older; majors from 18 on were released with the fix.
 */
const FIXED_MINOR: Record<number, number> = { 17: 6, 16: 10, 15: 14, 14: 19, 13: 22 };
const FIRST_FIXED_MAJOR = 18;

export const FIXED_CLIENT_VERSIONS = "17.6, 16.10, 15.14, 14.19, 13.22";

/** [major, minor] of "pg_dump (PostgreSQL) 15.18 (Debian …)"; null when there is none. */
export function parsePgClientVersion(text: string): [number, number] | null {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2] ?? 0)] : null;
}

/** Whether a client of this version is affected by CVE-2025-8714/8715. */
export function affectedByDumpCves(major: number, minor: number): boolean {
  if (major >= FIRST_FIXED_MAJOR) return false;
  const fixed = FIXED_MINOR[major];
  return fixed === undefined || minor < fixed;
}
