/**
 * One backup: `pg_dump -Fc` and the filestore tar, each streamed from the process's stdout into
 * a local file and/or an S3 multipart upload while hashing (no temp file of the dump anywhere),
 * then verified (local size after fsync; S3 HeadObject size + ETag/CRC32), then the manifest.
 * `completed` only when every requested target holds a verified copy. A target that fails is
 * reported with its reason; the others keep their copy (and their manifest, so it restores).
 */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Invalid } from "../../errors";
import { run } from "../../exec/run";
import { databaseSize } from "../../host/postgres/ops";
import { withTenant } from "../../host/postgres/tenant";
import { describeS3Error, openS3, type S3Store } from "../../host/s3/client";
import type { S3Target } from "../../host/s3/schema";
import type { Logger } from "../../log";
import { apparentSize, pgDump, pgDumpVersion, tarCreate, type PgAdmin } from "./commands";
import { readDbFacts } from "./facts";
import {
  MANIFEST_FILE,
  PART_FILES,
  PART_NAMES,
  assertBackupId,
  assertEnvSlug,
  localBackupDir,
  s3BackupPrefix,
  type PartName,
} from "./layout";
import { signManifest, type BackupManifest, type PartInfo } from "./manifest";
import { streamCommand, type StreamedPart } from "./pump";
import { localFileSink, s3Sink, type PartSink, type SinkCommit, type SinkTarget } from "./sinks";
import { FILESTORE_TENANT_DEPTH, openTenantDir } from "./tenant-dir";

export interface BackupTargets {
  /** Backups root: the copy goes to `<local>/<envSlug>/<backupId>/`. */
  local?: string;
  /** The copy goes to `<prefix><envSlug>/<backupId>/`. */
  s3?: S3Target;
}

export interface BackupInput {
  /**
   * The env's own role, owner of `dbName` (reads the facts and runs pg_dump): the database is
   * the tenant's, and nothing in it may run with the admin's rights.
   */
  pg: PgAdmin;
  dbName: string;
  /** The env's filestore for this database (`…/filestore/<db>`); missing = empty filestore. */
  filestoreDir: string;
  envSlug: string;
  backupId: string;
  /** Odoo series for the manifest; derived from base's installed version when omitted. */
  odooVersion?: string;
  targets: BackupTargets;
  log: Logger;
  signal?: AbortSignal;
  /** Directory of pg_dump (must be ≥ the server's major version); default: PATH. */
  pgBinDir?: string;
  /** Signs manifest.json (manifest.ts): `SecretBox.derive(MANIFEST_KEY_PURPOSE)`. */
  manifestKey: Buffer;
  /** Tests use 5 MiB to exercise multipart on small data; default: the target's partSizeMb. */
  s3PartSizeBytes?: number;
  /** pg_dump -Z; default: pg_dump's. */
  compressLevel?: number;
}

export interface TargetOutcome {
  status: "ok" | "failed";
  error: string | null;
}

export interface BackupResult {
  backupId: string;
  status: "completed" | "failed";
  /** Why it failed (every failing target / the producer), null when completed. */
  error: string | null;
  /** Null only when the dump itself could not be made. */
  manifest: BackupManifest | null;
  /** db + filestore bytes. */
  sizeBytes: number;
  /** Present when requested; `dir` holds a restorable copy iff status is ok. */
  local: (TargetOutcome & { dir: string }) | null;
  /** Present when requested; `prefix` holds a verified copy iff status is ok. */
  s3: (TargetOutcome & { bucket: string; prefix: string; parts: Partial<Record<PartName, SinkCommit["s3"]>> }) | null;
  startedAt: string;
  finishedAt: string;
}

interface TargetState {
  target: SinkTarget;
  error: string | null;
  commits: Partial<Record<PartName, SinkCommit>>;
}

function errText(e: unknown): string {
  return describeS3Error(e);
}

async function pgDumpVersionText(pgBinDir?: string): Promise<string> {
  const r = await run(pgDumpVersion(pgBinDir));
  return r.stdout.trim();
}

export async function runBackup(input: BackupInput): Promise<BackupResult> {
  const { log, targets } = input;
  assertEnvSlug(input.envSlug);
  assertBackupId(input.backupId);
  if (!targets.local && !targets.s3) throw new Invalid("a backup needs at least one target (local dir or S3)");
  const startedAt = new Date().toISOString();
  const localDir = targets.local ? localBackupDir(targets.local, input.envSlug, input.backupId) : null;
  const s3Prefix = targets.s3 ? s3BackupPrefix(targets.s3, input.envSlug, input.backupId) : null;
  const blog = log.tag({ backup: input.backupId, db: input.dbName });
  blog.info("backup started", { local: localDir, s3: s3Prefix ? `s3://${targets.s3?.bucket}/${s3Prefix}` : null });
  // A missing or unusable pg_dump is a setup error: thrown before anything is written.
  const pgDumpVer = await pgDumpVersionText(input.pgBinDir);

  const states = new Map<SinkTarget, TargetState>();
  if (localDir) {
    const error = await mkdir(localDir, { recursive: true, mode: 0o700 }).then(
      () => null,
      (e: unknown) => `cannot create ${localDir}: ${errText(e)}`,
    );
    states.set("local", { target: "local", error, commits: {} });
  }
  const store: S3Store | null = targets.s3 ? await openS3(targets.s3) : null;
  if (store) states.set("s3", { target: "s3", error: null, commits: {} });

  /** `expectedBytes` (database or filestore size) sizes the S3 parts of a big object. */
  async function sinksFor(part: PartName, expectedBytes: number | null): Promise<PartSink[]> {
    const out: PartSink[] = [];
    const local = states.get("local");
    if (localDir && local && !local.error) {
      try {
        out.push(await localFileSink(join(localDir, PART_FILES[part])));
      } catch (e) {
        local.error = `${part}: ${errText(e)}`;
      }
    }
    const s3 = states.get("s3");
    if (store && s3Prefix && s3 && !s3.error) {
      out.push(
        await s3Sink(store, `${s3Prefix}${PART_FILES[part]}`, {
          signal: input.signal,
          partSizeBytes: input.s3PartSizeBytes,
          expectedBytes,
        }),
      );
    }
    return out;
  }

  function record(part: PartName, streamed: StreamedPart): void {
    for (const [sink, outcome] of streamed.sinks) {
      const st = states.get(sink.target);
      if (!st) continue;
      if (outcome.ok) st.commits[part] = outcome.commit;
      // The producer's own failure is reported once, as the dump's, not again per target.
      else if (outcome.error !== streamed.sourceError) st.error ??= `${part}: ${errText(outcome.error)}`;
    }
  }

  async function backupPart(
    part: PartName,
    cmd: Parameters<typeof streamCommand>[0],
    expectedBytes: number | null,
  ): Promise<StreamedPart> {
    const t0 = performance.now();
    const sinks = await sinksFor(part, expectedBytes);
    // Every target already failed: do not run pg_dump/tar into the void.
    if (sinks.length === 0)
      return {
        bytes: 0,
        sha256: "",
        sourceError: new Error("no target can take it"),
        exitCode: null,
        sinks: new Map(),
      };
    const streamed = await streamCommand(cmd, sinks, input.signal);
    const secs = (performance.now() - t0) / 1000;
    record(part, streamed);
    if (streamed.sourceError) blog.error(`${part} failed`, { error: streamed.sourceError.message });
    else {
      if (part === "filestore" && streamed.exitCode === 1)
        blog.warn("filestore changed while being archived (tar exit 1); archive kept");
      blog.info(`${part} streamed`, {
        bytes: streamed.bytes,
        sha256: streamed.sha256,
        seconds: Number(secs.toFixed(2)),
        mbps: Number((streamed.bytes / 1e6 / Math.max(secs, 1e-3)).toFixed(1)),
      });
    }
    return streamed;
  }

  let manifest: BackupManifest | null = null;
  let sourceError: string | null = null;
  try {
    // REPEATABLE READ + exported snapshot: pg_dump sees exactly what the facts were read from.
    const { facts, db, filestore } = await withTenant({ ...input.pg, database: input.dbName }, (sql) =>
      sql.begin("isolation level repeatable read read only", async (tx) => {
        const [snap] = await tx<{ id: string }[]>`SELECT pg_export_snapshot() AS id`;
        const facts = await readDbFacts(tx);
        const dbBytes = await databaseSize(tx, input.dbName);
        // The tenant's directory, pinned: a link put in its place can neither be followed now nor swapped in later.
        const filestoreDir = openTenantDir(input.filestoreDir, FILESTORE_TENANT_DEPTH);
        try {
          const [db, filestore] = await Promise.all([
            backupPart(
              "db",
              pgDump(input.pg, input.dbName, {
                snapshot: snap?.id,
                pgBinDir: input.pgBinDir,
                compress: input.compressLevel,
              }),
              dbBytes,
            ),
            backupPart(
              "filestore",
              tarCreate(filestoreDir?.path ?? null),
              filestoreDir ? await diskUsage(filestoreDir.path) : null,
            ),
          ]);
          return { facts, db, filestore };
        } finally {
          filestoreDir?.close();
        }
      }),
    );
    const failedPart = [db, filestore].find((p) => p.sourceError);
    if (failedPart?.sourceError) sourceError = failedPart.sourceError.message;
    const part = (name: PartName, p: StreamedPart): PartInfo => ({
      file: PART_FILES[name],
      size: p.bytes,
      sha256: p.sha256,
    });
    if (!sourceError) {
      manifest = {
        format: 1,
        backupId: input.backupId,
        env: input.envSlug,
        dbName: input.dbName,
        odooVersion: input.odooVersion ?? facts.odooSeries,
        modules: facts.modules,
        rowCounts: facts.rowCounts,
        tableCount: facts.tableCount,
        parts: { db: part("db", db), filestore: part("filestore", filestore) },
        pgDump: { version: pgDumpVer, format: "custom" },
        server: { version: facts.serverVersion },
        startedAt,
        finishedAt: new Date().toISOString(),
      };
    }
  } catch (e) {
    sourceError = errText(e);
    blog.error("backup failed", { error: sourceError });
  }

  if (manifest) await writeManifests(signManifest(manifest, input.manifestKey), states, localDir, store, s3Prefix);
  else for (const st of states.values()) st.error ??= `source failed: ${sourceError}`;

  // A failed target holds nothing trustworthy: remove its leftovers (best effort).
  const local = states.get("local");
  if (localDir && local?.error) await rm(localDir, { recursive: true, force: true }).catch(() => undefined);
  const s3 = states.get("s3");
  if (store && s3Prefix && s3?.error) {
    await store
      .list(s3Prefix)
      .then((objs) => store.delete(objs.map((o) => o.key)))
      .catch((e: unknown) => blog.warn("could not remove partial S3 objects", { error: errText(e) }));
  }
  store?.close();

  const problems: string[] = sourceError ? [`dump: ${sourceError}`] : [];
  for (const st of states.values())
    if (st.error && !st.error.startsWith("source failed")) problems.push(`${st.target}: ${st.error}`);
  if (!sourceError && localDir && !local?.error && s3?.error) problems.push(`local copy kept at ${localDir}`);
  const status = problems.length === 0 ? "completed" : "failed";
  const result: BackupResult = {
    backupId: input.backupId,
    status,
    error: status === "completed" ? null : problems.join("; "),
    manifest,
    sizeBytes: manifest ? manifest.parts.db.size + manifest.parts.filestore.size : 0,
    local: localDir ? { dir: localDir, status: local?.error ? "failed" : "ok", error: local?.error ?? null } : null,
    s3:
      targets.s3 && s3Prefix
        ? {
            bucket: targets.s3.bucket,
            prefix: s3Prefix,
            status: s3?.error ? "failed" : "ok",
            error: s3?.error ?? null,
            parts: { db: s3?.commits.db?.s3, filestore: s3?.commits.filestore?.s3 },
          }
        : null,
    startedAt,
    finishedAt: manifest?.finishedAt ?? new Date().toISOString(),
  };
  if (status === "completed") blog.info("backup completed", { bytes: result.sizeBytes });
  else blog.error("backup failed", { error: result.error });
  return result;
}

/** Bytes under `dir`; null when `du` gives no total (the upload then keeps its configured part size). */
async function diskUsage(dir: string): Promise<number | null> {
  // A file removed mid-walk makes du exit 1 while it still prints the total.
  const r = await run(apparentSize(dir), { nothrow: true });
  const n = Number(/^(\d+)\s/.exec(r.stdout)?.[1]);
  return n > 0 ? n : null;
}

/** The manifest goes last, only to targets whose parts all verified: its presence means "complete". */
async function writeManifests(
  text: string,
  states: Map<SinkTarget, TargetState>,
  localDir: string | null,
  store: S3Store | null,
  s3Prefix: string | null,
): Promise<void> {
  for (const name of PART_NAMES) {
    for (const st of states.values()) if (!st.error && !st.commits[name]) st.error = `${name}: not written`;
  }
  const local = states.get("local");
  if (localDir && local && !local.error) {
    try {
      const tmp = join(localDir, `${MANIFEST_FILE}.partial`);
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, join(localDir, MANIFEST_FILE));
    } catch (e) {
      local.error = `manifest: ${errText(e)}`;
    }
  }
  const s3 = states.get("s3");
  if (store && s3Prefix && s3 && !s3.error) {
    try {
      const key = `${s3Prefix}${MANIFEST_FILE}`;
      await store.put(key, text, "application/json");
      const info = await store.head(key);
      const size = Buffer.byteLength(text);
      if (info?.size !== size) throw new Error(`manifest has ${info?.size ?? "no"} bytes on the server, sent ${size}`);
    } catch (e) {
      s3.error = `manifest: ${errText(e)}`;
    }
  }
}
