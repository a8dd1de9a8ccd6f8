/**
 * Restore = prepare everything beside the live env, touch nothing of it:
 *   1. manifest; 2. the dump (downloaded to `workDir` when it comes from S3, because
 *   `pg_restore -j` needs a seekable archive) with its sha256 checked; 3. the filestore extracted
 *   into a staging dir next to the target, sha256 checked; 4. a NEW database, `pg_restore -j`;
 *   5. the new database checked against the manifest (base installed, modules, exact row counts
 *   of key tables, table count). Any failure removes what this call created and throws.
 * The caller then stops the env, `swapDatabases` + `swapFilestore`, starts and health-checks.
 */
import { mkdir, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Conflict, Invalid, Unavailable, errorText } from "../../errors";
import { run } from "../../exec/run";
import { pgAdmin } from "../../host/postgres/connect";
import { createDatabase, databaseExists, dropDatabase } from "../../host/postgres/ops";
import { withTenant, type TenantLogin } from "../../host/postgres/tenant";
import type { Logger } from "../../log";
import { chownRecursive, pgRestore, tarExtract, type PgAdmin } from "./commands";
import { readDbFacts } from "./facts";
import { PARTIAL_SUFFIX, PART_FILES, type PartName } from "./layout";
import type { BackupManifest, ManifestTrust, PartInfo } from "./manifest";
import { pump } from "./pump";
import { localFileSink, processSink, type PartSink } from "./sinks";
import { describeSource, openPart, readManifest, type BackupSource, type OpenedPart } from "./source";
import { openTenantDir, pruneToFilesAndDirs } from "./tenant-dir";

export interface RestoreInput {
  /** Admin connection. */
  pg: PgAdmin;
  source: BackupSource;
  /** Must not exist yet (Conflict otherwise: a leftover of an earlier attempt is dropped by the caller). */
  newDbName: string;
  /**
   * The target env's role (must exist), logged in: it owns the new database, pg_restore logs in
   * as it (a backup read back from storage is tenant data and never runs with admin rights), and
   * the restored database is verified in a session of its own.
   */
  owner: Omit<TenantLogin, "database">;
  /** pg_restore -j (use the host's cores). */
  jobs: number;
  /** The env's filestore dir for its database; the staging dir is created beside it. */
  filestoreTargetDir: string;
  /** Scratch space for an S3 dump (needs its size free); a local backup's file is used in place. */
  workDir: string;
  log: Logger;
  signal?: AbortSignal;
  pgBinDir?: string;
  /** How the backup's manifest is authenticated before anything is read on its word. */
  manifestTrust: ManifestTrust;
  /** chown -R the staged filestore (Odoo containers run as uid 101). */
  filestoreOwner?: { uid: number; gid: number };
}

export interface RestoreChecks {
  dbSha256: string;
  filestoreSha256: string;
  baseInstalled: true;
  modules: number;
  tableCount: number;
  rowCounts: Record<string, number>;
}

export interface RestoreResult {
  manifest: BackupManifest;
  dbName: string;
  /** Swap it in with `swapFilestore(filestoreTargetDir, stagedFilestoreDir)`, or `discardDir` it. */
  stagedFilestoreDir: string;
  checks: RestoreChecks;
  seconds: { fetch: number; filestore: number; restore: number; verify: number };
}

/** Deterministic names, so a job resumed after a crash can find (and `cleanupRestore`) leftovers. */
export function restoreScratch(input: Pick<RestoreInput, "newDbName" | "filestoreTargetDir" | "workDir">): {
  stagedDir: string;
  tmpDump: string;
} {
  return {
    stagedDir: join(
      dirname(input.filestoreTargetDir),
      `.${basename(input.filestoreTargetDir)}.restore-${input.newDbName}`,
    ),
    tmpDump: join(input.workDir, `restore-${input.newDbName}.dump`),
  };
}

/**
 * Removes what an interrupted restoreBackup may have left (the new database, the staged
 * filestore, the downloaded dump). For a job's undo/retry path; never touches the env's own.
 */
export async function cleanupRestore(
  input: Pick<RestoreInput, "pg" | "newDbName" | "filestoreTargetDir" | "workDir">,
): Promise<void> {
  const { stagedDir, tmpDump } = restoreScratch(input);
  const admin = pgAdmin(input.pg);
  try {
    await dropDatabase(admin, input.newDbName);
  } finally {
    await admin.close();
  }
  await rm(stagedDir, { recursive: true, force: true });
  await rm(tmpDump, { force: true });
  await rm(`${tmpDump}${PARTIAL_SUFFIX}`, { force: true });
}

const since = (t0: number) => Number(((performance.now() - t0) / 1000).toFixed(2));

/** Streams a part into `sinks` (none = hash only) and checks size + sha256 against the manifest. */
async function copyVerified(
  source: BackupSource,
  part: PartName,
  expected: PartInfo,
  sinks: PartSink[],
  signal?: AbortSignal,
): Promise<string> {
  let opened: OpenedPart | null = null;
  try {
    opened = await openPart(source, part, signal);
    // Counted here: a download that dies says how far it got, not just the socket's "aborted".
    let read = 0;
    const counted = opened.stream.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          read += chunk.byteLength;
          ctl.enqueue(chunk);
        },
      }),
    );
    const out = await pump(counted, sinks).catch((e: unknown) => {
      if (signal?.aborted) throw e;
      throw new Unavailable(
        `reading ${describeSource(source).replace(/\/$/, "")}/${expected.file} died after ${read} of ${expected.size} bytes: ${errorText(e)}`,
      );
    });
    const failed = [...out.failed.values()][0];
    if (failed) throw failed;
    if (out.bytes !== expected.size || out.sha256 !== expected.sha256) {
      throw new Invalid(
        `${describeSource(source)}: ${expected.file} does not match its manifest (size ${out.bytes} vs ${expected.size}, sha256 ${out.sha256} vs ${expected.sha256})`,
      );
    }
    for (const s of sinks) await s.commit(out.bytes);
    return out.sha256;
  } catch (e) {
    for (const s of sinks) await s.abort(e instanceof Error ? e : new Error(String(e)));
    throw e;
  } finally {
    opened?.close();
  }
}

/** Compares the restored database with the manifest; returns the problems (empty = good). */
export function compareFacts(manifest: BackupManifest, facts: Awaited<ReturnType<typeof readDbFacts>>): string[] {
  const problems: string[] = [];
  if (!facts.baseInstalled) problems.push("ir_module_module: base is not installed");
  if (facts.tableCount !== manifest.tableCount)
    problems.push(`${facts.tableCount} tables, manifest says ${manifest.tableCount}`);
  for (const [table, n] of Object.entries(manifest.rowCounts)) {
    if (facts.rowCounts[table] !== n)
      problems.push(`${table}: ${facts.rowCounts[table] ?? "missing"} rows, manifest says ${n}`);
  }
  const key = (m: { name: string; version: string | null }) => `${m.name}@${m.version ?? ""}`;
  const want = manifest.modules.map(key).join(",");
  if (facts.modules.map(key).join(",") !== want) problems.push("installed modules differ from the manifest");
  return problems;
}

export async function restoreBackup(input: RestoreInput): Promise<RestoreResult> {
  const { log, pg, signal } = input;
  const rlog = log.tag({ restore: input.newDbName });
  const admin = pgAdmin(pg);
  const scratch = restoreScratch(input);
  const stagedDir = scratch.stagedDir;
  const jobs = Math.max(1, Math.floor(input.jobs));
  let tmpDump: string | null = null;
  let createdDb = false;
  let stagedCreated = false;
  try {
    if (await databaseExists(admin, input.newDbName)) {
      throw new Conflict(
        `database ${input.newDbName} already exists (a leftover of an earlier attempt? see cleanupRestore)`,
      );
    }
    // Scratch files carry our deterministic names: leftovers of a killed attempt are ours to clear.
    await rm(stagedDir, { recursive: true, force: true });
    const manifest = await readManifest(input.source, { warn: (m) => rlog.warn(m), ...input.manifestTrust });
    rlog.info("restore started", {
      source: describeSource(input.source),
      backup: manifest.backupId,
      db: manifest.dbName,
    });

    // 2. The dump, verified before any database is created.
    let t0 = performance.now();
    let dumpPath: string;
    let dbSha: string;
    if (input.source.kind === "local") {
      dumpPath = join(input.source.dir, PART_FILES.db);
      dbSha = await copyVerified(input.source, "db", manifest.parts.db, [], signal);
    } else {
      await mkdir(input.workDir, { recursive: true, mode: 0o700 });
      tmpDump = scratch.tmpDump;
      dbSha = await copyVerified(input.source, "db", manifest.parts.db, [await localFileSink(tmpDump)], signal);
      dumpPath = tmpDump;
    }
    const fetchSec = since(t0);
    rlog.info("dump verified", { bytes: manifest.parts.db.size, sha256: dbSha, seconds: fetchSec });

    // 3. The filestore, staged beside the target (same filesystem: the swap is a rename).
    t0 = performance.now();
    // `<data dir>/filestore` is the tenant's: staging through a link there would write where it points.
    openTenantDir(dirname(input.filestoreTargetDir), 1)?.close();
    await mkdir(stagedDir, { recursive: true, mode: 0o755 });
    stagedCreated = true;
    const fsSha = await copyVerified(
      input.source,
      "filestore",
      manifest.parts.filestore,
      [processSink(tarExtract(stagedDir), signal)],
      signal,
    );
    // Only files and directories reach a filestore: an archived link (to /etc/odooops, say) would
    // hand the tenant a way into the host's files the next time anything there follows it.
    const pruned = await pruneToFilesAndDirs(stagedDir);
    if (pruned.length > 0)
      rlog.warn("the backup's filestore held links or special files; not restored", {
        count: pruned.length,
        entries: pruned.slice(0, 10),
      });
    if (input.filestoreOwner) await run(chownRecursive(stagedDir, input.filestoreOwner.uid, input.filestoreOwner.gid));
    const filestoreSec = since(t0);
    rlog.info("filestore staged", { dir: stagedDir, bytes: manifest.parts.filestore.size, seconds: filestoreSec });

    // 4. A new database, restored in parallel.
    t0 = performance.now();
    await createDatabase(admin, input.newDbName, input.owner.user);
    createdDb = true;
    await run(pgRestore(input.owner, input.newDbName, { jobs, file: dumpPath, pgBinDir: input.pgBinDir }), {
      signal,
      onLine: (_s, line) => rlog.debug(line),
    });
    const restoreSec = since(t0);
    rlog.info("database restored", { jobs, seconds: restoreSec });

    // 5. Verified against the manifest.
    t0 = performance.now();
    const facts = await withTenant({ ...input.owner, database: input.newDbName }, readDbFacts);
    const problems = compareFacts(manifest, facts);
    if (problems.length > 0)
      throw new Invalid(`restored database failed verification: ${problems.join("; ")}`, { problems });
    const verifySec = since(t0);
    rlog.info("restore verified", { tables: facts.tableCount, modules: facts.modules.length });
    return {
      manifest,
      dbName: input.newDbName,
      stagedFilestoreDir: stagedDir,
      checks: {
        dbSha256: dbSha,
        filestoreSha256: fsSha,
        baseInstalled: true,
        modules: facts.modules.length,
        tableCount: facts.tableCount,
        rowCounts: facts.rowCounts,
      },
      seconds: { fetch: fetchSec, filestore: filestoreSec, restore: restoreSec, verify: verifySec },
    };
  } catch (e) {
    rlog.error("restore failed; cleaning up", { error: errorText(e) });
    if (createdDb) await dropDatabase(admin, input.newDbName).catch(() => undefined);
    if (stagedCreated) await rm(stagedDir, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  } finally {
    if (tmpDump) await rm(tmpDump, { force: true }).catch(() => undefined);
    await admin.close();
  }
}
