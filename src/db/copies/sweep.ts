/**
 * Finds and removes the copies of env databases that no job will finish or clean: what a daemon
 * killed mid-copy (kill -9, OOM, power loss) leaves behind. A scratch copy (rehearsal, tests
 * gate: database, role, pg_hba line, dir with a password) and a restore/clone/import copy
 * (`<db>_new_<token>`, its staged filestore and work files) are leftovers once no queued or running
 * job owns their name (names.ts); at daemon start, before any job runs, every scratch copy and
 * ownership-transfer role is (a resumed job makes its scratch copy again). A restore's
 * `<db>_old_<token>` is never touched: it is the env's previous database, kept on purpose.
 * Every removal ends the sessions still writing the copy first (ops.ts). Idempotent.
 */
import type { SQL } from "bun";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { inArray } from "drizzle-orm";
import { environments } from "../../env/env.sql";
import { envHost } from "../../env/host";
import { envResources } from "../../env/resources";
import { run } from "../../exec/run";
import {
  copyApplicationName,
  dropDatabase,
  dropThrowawayRole,
  readHbaEntries,
  removeHbaEntry,
  terminateSessions,
} from "../../host/postgres";
import type { Deps } from "../../deps";
import { activeJobs } from "../../jobs/lookup";
import { importsDir } from "../import-job";
import {
  deploymentReplaceToken,
  isXferRole,
  replaceTokenOf,
  SCRATCH_PREFIX,
  scratchTagOfDir,
  scratchTagOfName,
  scratchTagsOf,
  XFER_PREFIX,
} from "./names";

type SweepDeps = Pick<Deps, "db" | "config" | "paths">;

/** What the jobs still queued or running may use. */
interface Live {
  scratchTags: Set<string>;
  replaceTokens: Set<string>;
  /** Upload files (import dumps, filestore tars) named in their params. */
  uploads: Set<string>;
}

function liveCopies(deps: SweepDeps, atStart: boolean): Live {
  const rows = activeJobs(deps.db);
  // A restore/clone/import names its copy by params.token; a deploy's pre-deploy restore by its deployment.
  const replaceTokens = new Set(
    rows
      .flatMap((r) => [
        r.params.token,
        typeof r.params.deploymentId === "string" ? deploymentReplaceToken(r.params.deploymentId) : null,
      ])
      .filter((t): t is string => typeof t === "string"),
  );
  // At start nothing runs yet: a resumed job makes its scratch copy again from nothing.
  const scratchTags = new Set(atStart ? [] : rows.flatMap((r) => scratchTagsOf(r.id)));
  const uploads = new Set(
    rows.flatMap((r) => [r.params.upload, r.params.filestore]).filter((u): u is string => typeof u === "string"),
  );
  return { scratchTags, replaceTokens, uploads };
}

async function namesOwned(sql: SQL, prefix: string): Promise<{ db: string; owner: string }[]> {
  return sql<{ db: string; owner: string }[]>`
    SELECT datname AS db, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE starts_with(datname, ${prefix}) ORDER BY datname`;
}

async function rolesLike(sql: SQL, prefix: string): Promise<string[]> {
  const rows = await sql<
    { rolname: string }[]
  >`SELECT rolname FROM pg_roles WHERE starts_with(rolname, ${prefix}) AND NOT rolsuper ORDER BY rolname`;
  return rows.map((r) => r.rolname);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Targets of the copies being created right now, by their sessions' copyApplicationName. */
async function copiesInFlight(sql: SQL): Promise<string[]> {
  const prefix = copyApplicationName("x").slice(0, -1);
  const rows = await sql<
    { app: string }[]
  >`SELECT DISTINCT application_name AS app FROM pg_stat_activity WHERE starts_with(application_name, ${prefix})`;
  return rows.map((r) => r.app.slice(prefix.length));
}

async function sweepScratch(
  deps: SweepDeps,
  sql: SQL,
  live: Live,
  inFlight: string[],
  removed: string[],
): Promise<Set<string>> {
  const { hbaFile } = deps.config.postgres;
  const hba = hbaFile === "" ? [] : readHbaEntries(readFileSync(hbaFile, "utf8"));
  const dbs = await namesOwned(sql, SCRATCH_PREFIX);
  const roles = await rolesLike(sql, SCRATCH_PREFIX);
  const dirs = listDir(deps.paths.envsDir).flatMap((slug) =>
    listDir(join(deps.paths.envsDir, slug)).map((entry) => ({ slug, entry, tag: scratchTagOfDir(entry) })),
  );
  // Every trace counts: a crash can leave any subset (only a role, only a dir, a copy still being created).
  const tags = new Set([...hba.map((e) => e.db), ...dbs.map((d) => d.db), ...roles, ...inFlight].map(scratchTagOfName));
  for (const d of dirs) tags.add(d.tag);
  const slugs = new Set<string>();
  for (const tag of tags) {
    if (tag === null || live.scratchTags.has(tag)) continue;
    const name = `${SCRATCH_PREFIX}${tag}`;
    // Ours only: a scratch database is owned by the scratch role of the same name; anyone else's
    // database of that name is left alone, sessions included.
    const existing = dbs.find((d) => d.db === name);
    if (existing && existing.owner !== name) continue;
    if (hba.some((e) => e.db === name)) {
      await removeHbaEntry(sql, hbaFile, name);
      removed.push(`pg_hba line for ${name}`);
    }
    // First: a copy still being written (or created) by a killed daemon's session would outlive the drop.
    await terminateSessions(sql, name, name);
    // Listed, or created meanwhile by the session just ended (its CREATE DATABASE had committed).
    const db = existing ?? (await namesOwned(sql, name)).find((d) => d.db === name);
    if (db && db.owner === name) {
      await dropDatabase(sql, name);
      removed.push(`database ${name}`);
    }
    if (roles.includes(name) || (await rolesLike(sql, name)).includes(name)) {
      await dropThrowawayRole(sql, name);
      removed.push(`role ${name}`);
    }
    for (const d of dirs.filter((x) => x.tag === tag)) {
      rmSync(join(deps.paths.envsDir, d.slug, d.entry), { recursive: true, force: true });
      removed.push(`directory ${join(deps.paths.envsDir, d.slug, d.entry)}`);
      slugs.add(d.slug);
    }
  }
  return slugs;
}

async function sweepXfer(sql: SQL, removed: string[]): Promise<void> {
  for (const role of await rolesLike(sql, XFER_PREFIX)) {
    if (!isXferRole(role)) continue;
    await dropThrowawayRole(sql, role);
    removed.push(`role ${role}`);
  }
}

/** `<db>_new_<token>` copies (restore, clone, import) whose job has ended, with their files. */
async function sweepReplace(
  deps: SweepDeps,
  sql: SQL,
  live: Live,
  inFlight: string[],
  removed: string[],
): Promise<void> {
  for (const env of deps.db.select().from(environments).all()) {
    const base = env.dbName.slice(0, 50);
    const dataDir = envResources(env, deps).dataDir;
    const listed = await namesOwned(sql, `${base}_new_`);
    for (const name of new Set([...listed.map((d) => d.db), ...inFlight])) {
      const token = replaceTokenOf(name, base);
      if (token === null || live.replaceTokens.has(token)) continue;
      // Ours only: the copy is created owned by the env's role; anyone else's is left alone.
      const existing = listed.find((d) => d.db === name);
      if (existing && existing.owner !== env.dbUser) continue;
      await terminateSessions(sql, name);
      const db = existing ?? (await namesOwned(sql, name)).find((d) => d.db === name);
      if (!db || db.owner !== env.dbUser) continue;
      await dropDatabase(sql, name);
      removed.push(`database ${name}`);
    }
    // The files of a copy can outlive its database (a crash between the two removals); names as
    // in restoreScratch (db/backup/restore.ts) and the import's unzipped dump (import-job.ts).
    const filestoreParent = join(dataDir, "filestore");
    for (const entry of listDir(filestoreParent)) {
      const prefix = `.${env.dbName}.restore-`;
      const token = entry.startsWith(prefix) ? replaceTokenOf(entry.slice(prefix.length), base) : null;
      if (token === null || live.replaceTokens.has(token)) continue;
      rmSync(join(filestoreParent, entry), { recursive: true, force: true });
      removed.push(`directory ${join(filestoreParent, entry)}`);
    }
    for (const entry of listDir(deps.paths.workDir)) {
      const m = /^(?:restore-(.+)\.dump(?:\.partial)?|import-(.+)\.sql)$/.exec(entry);
      const token = m ? replaceTokenOf(m[1] ?? m[2] ?? "", base) : null;
      if (token === null || live.replaceTokens.has(token)) continue;
      rmSync(join(deps.paths.workDir, entry), { force: true });
      removed.push(`file ${join(deps.paths.workDir, entry)}`);
    }
  }
}

/**
 * At start only (an upload may be arriving at any other time): uploads of imports whose job
 * ended without removing them (cancelled while queued) or that never became a job — production
 * data in a dump, a zip or a filestore tar.
 */
function sweepUploads(deps: SweepDeps, live: Live, removed: string[]): void {
  const dir = importsDir(deps.paths);
  for (const env of deps.db.select({ slug: environments.slug }).from(environments).all()) {
    const upload = new RegExp(`^${env.slug}-(?:([a-z0-9]{8})\\.(?:zip|dump|partial)|filestore-[0-9a-f]{32}\\.tar)$`);
    for (const entry of listDir(dir)) {
      const m = upload.exec(entry);
      if (!m || (m[1] !== undefined && live.replaceTokens.has(m[1])) || live.uploads.has(join(dir, entry))) continue;
      rmSync(join(dir, entry), { force: true });
      removed.push(`file ${join(dir, entry)}`);
    }
  }
}

/**
 * Removes every leftover copy; returns what was removed, one line each (for the daemon log, the
 * job log and the audit entry). `atStart`: called by the daemon before its agent runs any job.
 */
export async function sweepCopies(deps: SweepDeps, opts: { atStart: boolean }): Promise<string[]> {
  const live = liveCopies(deps, opts.atStart);
  const removed: string[] = [];
  const host = envHost(deps);
  const slugs = await host.withAdmin(async (sql) => {
    const inFlight = await copiesInFlight(sql);
    const s = await sweepScratch(deps, sql, live, inFlight, removed);
    if (opts.atStart) await sweepXfer(sql, removed);
    await sweepReplace(deps, sql, live, inFlight, removed);
    return s;
  });
  if (opts.atStart) sweepUploads(deps, live, removed);
  if (opts.atStart && slugs.size > 0) {
    // A rehearsal, test or DR test container of a killed daemon still runs against the dropped copy.
    const envs = deps.db
      .select()
      .from(environments)
      .where(inArray(environments.slug, [...slugs]))
      .all();
    for (const env of envs) {
      const init = envResources(env, deps).initContainer;
      for (const name of [
        `${init}-rehearse`,
        `${init}-rehearse-boot`,
        `${init}-tests`,
        `${init}-tests-cmd`,
        `${init}-drtest`,
      ]) {
        const r = await run(host.docker.rm(name, { force: true }), { nothrow: true });
        if (r.exitCode === 0 && r.stdout.trim() !== "") removed.push(`container ${name}`);
      }
    }
  }
  return removed;
}
