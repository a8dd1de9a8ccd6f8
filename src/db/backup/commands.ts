/**
 * pg_dump / pg_restore / tar as data (argv + env). The password travels in PGPASSWORD, never in
 * argv (argv is visible in `ps` and echoed in errors); database names are validated identifiers,
 * because libpq would read a "name" containing `=` as a connection string.
 */
import { join } from "node:path";
import type { Command } from "../../exec/command";
import { assertIdent } from "../../host/postgres/quote";
import type { PgTarget } from "../../host/postgres/connect";

/** The admin connection (no database: each command names its own). */
export type PgAdmin = Omit<PgTarget, "database">;

/** Long-running data commands must not hit the executor's 10-minute default. */
const DAY_MS = 24 * 3600_000;

function bin(pgBinDir: string | undefined, name: string): string {
  return pgBinDir ? join(pgBinDir, name) : name;
}

function pgEnv(pg: PgAdmin, app: string): Record<string, string> {
  return { PGPASSWORD: pg.password, PGCONNECT_TIMEOUT: "15", PGAPPNAME: app };
}

function connArgs(pg: PgAdmin): string[] {
  return ["-h", pg.host, "-p", String(pg.port), "-U", pg.user, "--no-password"];
}

export interface DumpOptions {
  /** An exported snapshot (pg_export_snapshot) so the dump matches what the manifest counted. */
  snapshot?: string;
  /** 0-9; omitted = pg_dump's default for -Fc. 0 for local pipes (clone), where CPU is the cost. */
  compress?: number;
  /** Only these sections (an anonymizing copy loads data between pre-data and post-data). */
  sections?: ("pre-data" | "data" | "post-data")[];
  /** public tables whose rows are left out (the anonymizing copy streams them itself). */
  excludeTableData?: string[];
  pgBinDir?: string;
}

/** `pg_dump -Fc` to stdout. */
export function pgDump(pg: PgAdmin, db: string, opts: DumpOptions = {}): Command {
  return {
    argv: [
      bin(opts.pgBinDir, "pg_dump"),
      "-Fc",
      ...connArgs(pg),
      "-d",
      assertIdent(db, "database"),
      ...(opts.compress !== undefined ? ["-Z", String(opts.compress)] : []),
      ...(opts.snapshot ? [`--snapshot=${opts.snapshot}`] : []),
      ...(opts.sections ?? []).map((s) => `--section=${s}`),
      // A validated lowercase name matches only itself (pg_dump patterns: only * and ? are wild).
      ...(opts.excludeTableData ?? []).map((t) => `--exclude-table-data=public.${assertIdent(t, "table")}`),
    ],
    env: pgEnv(pg, "odooops-backup"),
    redact: [pg.password],
    timeoutMs: DAY_MS,
  };
}

export interface RestoreOptions {
  /** Parallel jobs; needs `file` (a seekable archive). */
  jobs?: number;
  /** Archive path; omitted = stdin (streamed clone, single job). */
  file?: string;
  pgBinDir?: string;
}

/**
 * `pg_restore` into an existing, empty database, connected as the env's OWN role (`as`, see
 * env/tenant-login.ts): the archive is tenant data, and its SQL runs with the session's rights, so the
 * session must never be a superuser's (a `--role` / SET ROLE is undone by a `RESET ROLE` in the
 * archive). The env's role owns the database, so it owns what it creates. --no-owner /
 * --no-privileges: the dump's roles are another env's (or another host's).
 */
export function pgRestore(as: PgAdmin, db: string, opts: RestoreOptions = {}): Command {
  const jobs = opts.file && opts.jobs && opts.jobs > 1 ? ["-j", String(opts.jobs)] : [];
  return {
    argv: [
      bin(opts.pgBinDir, "pg_restore"),
      ...connArgs(as),
      "-d",
      assertIdent(db, "database"),
      "--no-owner",
      "--no-privileges",
      ...jobs,
      ...(opts.file ? [opts.file] : []),
    ],
    env: pgEnv(as, "odooops-restore"),
    redact: [as.password],
    timeoutMs: DAY_MS,
  };
}

export function pgDumpVersion(pgBinDir?: string): Command {
  return { argv: [bin(pgBinDir, "pg_dump"), "--version"], timeoutMs: 30_000 };
}

/**
 * The filestore as a tar stream on stdout, paths relative to the filestore dir (`./ab/ab12…`).
 * Numeric owners: uid 101 inside Odoo images need not have a name on the host. A missing
 * directory (an env that never stored an attachment) gives a valid empty archive.
 * The tenant owns what is archived: `dir` is a pinned descriptor (tenant-dir.ts), links are
 * stored as links (never -h), and nothing mounted below is entered.
 */
export function tarCreate(dir: string | null): Command {
  return {
    argv: dir
      ? ["tar", "-C", dir, "--numeric-owner", "--one-file-system", "-cf", "-", "."]
      : ["tar", "-cf", "-", "-T", "/dev/null"],
    timeoutMs: DAY_MS,
    // GNU tar: 1 = "some files differed/changed while read" (a live filestore); 2+ = fatal.
    okExitCodes: [1],
  };
}

/**
 * Bytes of everything under `dir` as files see them (`du -sb`: apparent sizes, one total line),
 * on its filesystem only (-x), links not followed. `/.`: `dir` may be a pinned /proc/<pid>/fd
 * name, itself a link that du would measure instead of entering.
 */
export function apparentSize(dir: string): Command {
  return { argv: ["du", "-sbx", "--", `${dir}/.`], timeoutMs: DAY_MS };
}

/**
 * Extracts a tar stream from stdin into `dir` (which must exist). Entries belong to root until
 * the restore hands the checked tree to Odoo's user (--no-same-owner): the tenant cannot touch
 * it while links and special files are pruned.
 */
export function tarExtract(dir: string): Command {
  return { argv: ["tar", "-C", dir, "--no-same-owner", "-xf", "-"], timeoutMs: DAY_MS };
}

export function chownRecursive(dir: string, uid: number, gid: number): Command {
  return { argv: ["chown", "-R", `${uid}:${gid}`, dir], timeoutMs: DAY_MS };
}
