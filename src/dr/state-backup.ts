/**
 * One state backup: a consistent copy of the SQLite state taken while the daemon keeps writing
 * (`VACUUM INTO`, which reads inside one transaction), the config and secret keys, packed,
 * encrypted for the recovery key and written to every configured store; then each store's
 * retention. Runs in the coordinator (hourly by default and on `odooops dr backup`).
 */
import type { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Paths } from "../config/paths";
import type { Config } from "../config/schema";
import { planRetention } from "../db/backup/retention";
import { Invalid, errorText } from "../errors";
import { describeS3Error } from "../host/s3";
import type { Schedule } from "../jobs/schedule";
import { Log } from "../log";
import { VERSION } from "../version";
import { type BundleFile, pack, STATE_FILES, stateFilePath } from "./bundle";
import { seal } from "./envelope";
import { readRecoveryPublicKey } from "./recovery-key";
import { dirStore, localStateDir, s3Store, type StateBackupStore, stateBackupId } from "./store";

const log = Log.create("dr");

export interface StateBackupDeps {
  db: { $client: Database };
  config: Config;
  paths: Paths;
}

export interface StateBackupResult {
  id: string;
  createdAt: string;
  size: number;
  recipient: string;
  stored: { kind: "local" | "s3"; where: string }[];
  failed: { kind: "local" | "s3"; where: string; error: string }[];
  deleted: { kind: "local" | "s3"; ids: string[] }[];
}

/** The stores this config writes to: the local backups dir (unless off) and backups.s3. */
export async function openStores(config: Config, paths: Paths): Promise<StateBackupStore[]> {
  const stores: StateBackupStore[] = [];
  const local = config.backups.local;
  if (local.enabled) stores.push(dirStore(localStateDir(local.dir !== "" ? local.dir : paths.backupsDir)));
  if (config.backups.s3) stores.push(await s3Store(config.backups.s3));
  return stores;
}

/** The SQLite state as one consistent file, taken from the open connection. */
export function snapshotState(client: Database, file: string): void {
  client.prepare("VACUUM INTO ?").run(file);
}

function readBundleFiles(paths: Paths, snapshot: string): BundleFile[] {
  return STATE_FILES.flatMap((name): BundleFile[] => {
    const file = name === "state.db" ? snapshot : stateFilePath(paths, name);
    return existsSync(file) ? [{ name, bytes: readFileSync(file) }] : [];
  });
}

export async function backupState(deps: StateBackupDeps, now: Date = new Date()): Promise<StateBackupResult> {
  const { config, paths } = deps;
  const recipient = readRecoveryPublicKey(paths.recoveryPublicKeyFile);
  if (!recipient)
    throw new Invalid(
      `no recovery key on this host (${paths.recoveryPublicKeyFile}): create one with odooops dr recovery-key, then keep the key it prints off this host`,
    );
  const stores = await openStores(config, paths);
  if (stores.length === 0) throw new Invalid("no backup target: backups.local is off and backups.s3 is not set");
  const id = stateBackupId(now, randomSuffix());
  // The plaintext snapshot lives only in a 0700 scratch dir on the state's own disk, briefly.
  mkdirSync(paths.workDir, { recursive: true, mode: 0o750 });
  const scratch = mkdtempSync(join(paths.workDir, "state-backup-"));
  try {
    const snapshot = join(scratch, "state.db");
    snapshotState(deps.db.$client, snapshot);
    const sealed = seal(
      pack(readBundleFiles(paths, snapshot)),
      { id, createdAt: now.toISOString(), host: hostname(), version: VERSION },
      recipient,
    );
    const result: StateBackupResult = {
      id,
      createdAt: now.toISOString(),
      size: sealed.byteLength,
      recipient: recipient.fingerprint,
      stored: [],
      failed: [],
      deleted: [],
    };
    for (const store of stores) {
      try {
        await store.put(id, sealed);
        result.stored.push({ kind: store.kind, where: store.where });
        const ids = await applyRetention(store, config, now);
        if (ids.length > 0) result.deleted.push({ kind: store.kind, ids });
      } catch (e) {
        result.failed.push({
          kind: store.kind,
          where: store.where,
          error: store.kind === "s3" ? describeS3Error(e) : errorText(e),
        });
      }
    }
    if (result.failed.length > 0) log.error("state backup not stored everywhere", { id, failed: result.failed });
    else
      log.info("state backup stored", {
        id,
        size: result.size,
        stored: result.stored.map((s) => s.where),
        deleted: result.deleted,
      });
    return result;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    for (const s of stores) s.close();
  }
}

function randomSuffix(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(6)].map((b) => alphabet[b % alphabet.length]).join("");
}

/** Deletes what the retention policy lets go; the newest backup is always kept. */
async function applyRetention(store: StateBackupStore, config: Config, now: Date): Promise<string[]> {
  const all = await store.list();
  const ids = planRetention(
    all.map((b) => ({ id: b.id, createdAt: b.createdAt, status: "completed" as const })),
    config.dr.stateBackups.retention,
    now,
  );
  await store.delete(ids);
  return ids;
}

export interface StateBackupListing {
  /** Fingerprint of the recovery key new backups are encrypted for; null: none on this host. */
  recoveryKey: string | null;
  backups: { id: string; createdAt: string; size: number; stored: ("local" | "s3")[] }[];
  /** A store that could not be listed (S3 down …): the others are still shown. */
  errors: { kind: "local" | "s3"; where: string; error: string }[];
}

export async function listStateBackups(config: Config, paths: Paths): Promise<StateBackupListing> {
  const stores = await openStores(config, paths);
  const byId = new Map<string, StateBackupListing["backups"][number]>();
  const errors: StateBackupListing["errors"] = [];
  try {
    for (const store of stores) {
      try {
        for (const b of await store.list()) {
          const seen = byId.get(b.id);
          if (seen) seen.stored.push(store.kind);
          else byId.set(b.id, { ...b, stored: [store.kind] });
        }
      } catch (e) {
        errors.push({
          kind: store.kind,
          where: store.where,
          error: store.kind === "s3" ? describeS3Error(e) : errorText(e),
        });
      }
    }
  } finally {
    for (const s of stores) s.close();
  }
  const recoveryKey = readRecoveryPublicKey(paths.recoveryPublicKeyFile)?.fingerprint ?? null;
  return { recoveryKey, backups: [...byId.values()].sort((a, b) => (a.id < b.id ? 1 : -1)), errors };
}

export function stateBackupSchedule(pattern: string): Schedule {
  return {
    name: "dr.state-backup",
    pattern,
    async tick(deps) {
      const r = await backupState(deps);
      if (r.stored.length === 0)
        throw new Error(
          `state backup ${r.id} stored nowhere: ${r.failed.map((f) => `${f.where}: ${f.error}`).join("; ")}`,
        );
    },
  };
}
