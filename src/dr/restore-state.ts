/**
 * `odooops dr restore-state`: brings a host's control plane back from a state backup. Runs on
 * the host itself with the daemon stopped (it replaces the files the daemon holds open). Order:
 * refuse while anything uses the state → fetch → authenticate (AES-GCM) → check every file's
 * checksum → SQLite integrity_check of the restored database → only then move the current files
 * aside (`<file>.replaced-<stamp>`, kept) and the restored ones in. Any failure before the
 * swap leaves the host exactly as it was.
 */
import { Database } from "bun:sqlite";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname } from "node:path";
import { AuditService } from "../audit/service";
import { SecretBox } from "../auth/secretbox";
import type { Paths } from "../config/paths";
import { fetchHealth } from "../doctor/daemon";
import { Conflict, Invalid, NotFound, errorText } from "../errors";
import { type BundleFile, type StateFileName, stateFilePath, unpack } from "./bundle";
import { type EnvelopeHeader, open } from "./envelope";
import { openState } from "../state/db";
import type { RecoveryPrivateKey } from "./recovery-key";
import type { StateBackupStore } from "./store";

export interface RestoreStatePlan {
  backup: EnvelopeHeader & { size: number; from: string };
  files: { name: StateFileName; path: string; size: number; action: "create" | "replace"; keptAs: string | null }[];
  /** Tables and row counts of the restored state, read after integrity_check passed. */
  counts: Record<string, number>;
}

export interface RestoreStateOptions {
  paths: Paths;
  key: RecoveryPrivateKey;
  store: StateBackupStore;
  /** Default: the newest backup in the store. */
  backupId?: string;
  dryRun: boolean;
  now?: Date;
}

/** Pids (other than this process) that hold `file` open: a running daemon, a sqlite3 shell. */
export function processesUsing(file: string, procDir = "/proc"): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync(procDir)) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${procDir}/${entry}/fd`);
    } catch {
      continue; // gone, or not ours to look at
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`${procDir}/${entry}/fd/${fd}`) === file) {
          pids.push(Number(entry));
          break;
        }
      } catch {
        // closed meanwhile
      }
    }
  }
  return pids;
}

async function refuseWhileRunning(paths: Paths): Promise<void> {
  if (existsSync(paths.daemonUrlFile)) {
    const url = readFileSync(paths.daemonUrlFile, "utf8").trim();
    if (url && (await fetchHealth(url, 2_000)).ok)
      throw new Conflict(`a daemon is running on this state (${url}): stop it first (systemctl stop odooops)`);
  }
  const users = existsSync(paths.stateDb) ? processesUsing(paths.stateDb) : [];
  if (users.length > 0)
    throw new Conflict(
      `${paths.stateDb} is open in process(es) ${users.join(", ")}: stop the daemon first (systemctl stop odooops)`,
    );
}

/** integrity_check plus the migrations table: a file that is SQLite but not odooops state is refused. */
function checkState(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true, strict: true });
  try {
    const rows = db.query<{ integrity_check: string }, []>("PRAGMA integrity_check").all();
    if (rows.length !== 1 || rows[0].integrity_check !== "ok")
      throw new Invalid(
        `restored state fails SQLite's integrity check: ${rows
          .map((r) => r.integrity_check)
          .join("; ")
          .slice(0, 500)}`,
      );
    const tables = db
      .query<{ name: string }, []>(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name",
      )
      .all()
      .map((r) => r.name);
    if (!tables.includes("__drizzle_migrations") || !tables.includes("environments"))
      throw new Invalid("restored state.db is not an odooops state database");
    return Object.fromEntries(
      tables.map((t) => [
        t,
        db.query<{ n: number }, []>(`select count(*) as n from "${t.replaceAll('"', '""')}"`).get()?.n ?? 0,
      ]),
    );
  } catch (e) {
    if (e instanceof Invalid) throw e;
    throw new Invalid(`restored state.db cannot be read as SQLite: ${errorText(e)}`);
  } finally {
    db.close();
  }
}

/** The restored audit chain goes on with the restore itself, keyed like the daemon keys it. */
function auditRestore(paths: Paths, plan: RestoreStatePlan): void {
  const db = openState(paths.stateDb);
  try {
    const audit = new AuditService(db, {
      key: SecretBox.fromFile(paths.secretKeyFile).derive("audit-chain"),
      denialWindowMs: 0,
    });
    audit.record({
      actor: "dr-restore",
      action: "dr.restore-state",
      target: plan.backup.id,
      ip: null,
      details: {
        from: plan.backup.from,
        host: plan.backup.host,
        createdAt: plan.backup.createdAt,
        recipient: plan.backup.recipient,
        replaced: plan.files.filter((f) => f.keptAs).map((f) => f.keptAs),
      },
    });
  } finally {
    db.$client.close();
  }
}

const stampOf = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
const MODES: Record<StateFileName, number> = {
  "state.db": 0o640,
  "config.yaml": 0o600,
  "config.toml": 0o600,
  "secret.key": 0o600,
  "jwt-secret": 0o600,
  "recovery.pub": 0o600,
};

export async function restoreState(opts: RestoreStateOptions): Promise<RestoreStatePlan & { restored: boolean }> {
  const { paths, store } = opts;
  const now = opts.now ?? new Date();
  await refuseWhileRunning(paths);
  const listed = await store.list();
  const chosen = opts.backupId ? listed.find((b) => b.id === opts.backupId) : listed[0];
  if (!chosen)
    throw new NotFound(
      opts.backupId ? `no state backup ${opts.backupId} in ${store.where}` : `no state backups in ${store.where}`,
    );
  const { header, plain } = open(await store.get(chosen.id), opts.key);
  if (header.id !== chosen.id)
    throw new Invalid(`state backup file ${chosen.id} carries id ${header.id}: renamed or swapped, refused`);
  const { files } = unpack(plain);
  const stamp = stampOf(now);

  // The database is checked from a file beside its destination (same filesystem: the final move is a rename).
  mkdirSync(dirname(paths.stateDb), { recursive: true, mode: 0o750 });
  const incoming = new Map<StateFileName, string>();
  const writeIncoming = (f: BundleFile) => {
    const dest = stateFilePath(paths, f.name);
    mkdirSync(dirname(dest), { recursive: true, mode: 0o750 });
    const tmp = `${dest}.restoring-${stamp}`;
    writeFileSync(tmp, f.bytes, { mode: MODES[f.name] });
    chmodSync(tmp, MODES[f.name]);
    incoming.set(f.name, tmp);
  };
  try {
    const db = files.find((f) => f.name === "state.db");
    if (!db) throw new Invalid("state backup holds no state.db");
    writeIncoming(db);
    const counts = checkState(incoming.get("state.db")!);
    const plan: RestoreStatePlan = {
      backup: { ...header, size: chosen.size, from: store.where },
      files: files.map((f) => {
        const path = stateFilePath(paths, f.name);
        const exists = existsSync(path);
        return {
          name: f.name,
          path,
          size: f.bytes.byteLength,
          action: exists ? "replace" : "create",
          keptAs: exists ? `${path}.replaced-${stamp}` : null,
        };
      }),
      counts,
    };
    if (opts.dryRun) return { ...plan, restored: false };
    for (const f of files) if (f.name !== "state.db") writeIncoming(f);
    // A WAL or shared-memory file of the replaced database would be replayed into the restored one.
    for (const side of ["-wal", "-shm"]) {
      const file = `${paths.stateDb}${side}`;
      if (existsSync(file)) renameSync(file, `${file}.replaced-${stamp}`);
    }
    for (const f of plan.files) {
      if (f.keptAs) renameSync(f.path, f.keptAs);
      renameSync(incoming.get(f.name)!, f.path);
      incoming.delete(f.name);
    }
    auditRestore(paths, plan);
    return { ...plan, restored: true };
  } finally {
    for (const tmp of incoming.values()) rmSync(tmp, { force: true });
  }
}
