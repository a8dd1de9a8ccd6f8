/**
 * One order per domain at a time. In this process a second request joins the running one (the
 * same promise); another process holding `<certsDir>/_locks/<domain>.lock` makes it fail with
 * Conflict instead of placing a duplicate order. A lock whose process is gone (crash) or that is
 * older than any issuance can take is taken over.
 */
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { lockedMessage } from "./errors";
import { pidAlive } from "../../exec/pid";

const STALE_MS = 30 * 60_000;
const LockFile = z.object({ pid: z.number().int(), token: z.string(), startedAt: z.string() });

const running = new Map<string, Promise<unknown>>();

export function lockFile(certsDir: string, domain: string): string {
  return join(certsDir, "_locks", `${domain}.lock`);
}

function tryCreate(file: string, token: string): boolean {
  try {
    const fd = openSync(file, "wx", 0o600);
    writeSync(fd, JSON.stringify({ pid: process.pid, token, startedAt: new Date().toISOString() }));
    closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

/** Takes the file lock or throws Conflict; returns the release function. */
function acquireFileLock(certsDir: string, domain: string): () => void {
  const file = lockFile(certsDir, domain);
  mkdirSync(join(certsDir, "_locks"), { recursive: true, mode: 0o700 });
  const token = crypto.randomUUID();
  const release = () => {
    try {
      if (LockFile.parse(JSON.parse(readFileSync(file, "utf8"))).token === token) rmSync(file, { force: true });
    } catch {
      // Already gone (or replaced by a takeover after we went stale): nothing of ours to remove.
    }
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    if (tryCreate(file, token)) return release;
    let holder: z.infer<typeof LockFile> | null = null;
    try {
      holder = LockFile.parse(JSON.parse(readFileSync(file, "utf8")));
    } catch {
      holder = null; // half-written or foreign: treat as stale
    }
    // Our own pid with no running entry is a leftover of this process (the map is checked first).
    const live =
      holder &&
      holder.pid !== process.pid &&
      pidAlive(holder.pid) &&
      Date.now() - Date.parse(holder.startedAt) < STALE_MS;
    if (live && holder) throw lockedMessage(domain, `process ${holder.pid} since ${holder.startedAt}`);
    rmSync(file, { force: true });
  }
  throw lockedMessage(domain, "lock file keeps reappearing");
}

export interface Locked<T> {
  result: Promise<T>;
  /** True when an issuance already running in this process was joined. */
  joined: boolean;
}

/** Runs `fn` under the domain's locks, or joins the run already in progress here. */
export function withDomainLock<T>(certsDir: string, domain: string, fn: () => Promise<T>): Locked<T> {
  const key = `${certsDir}\0${domain}`;
  const existing = running.get(key) as Promise<T> | undefined;
  if (existing) return { result: existing, joined: true };
  const result = (async () => {
    const release = acquireFileLock(certsDir, domain);
    try {
      return await fn();
    } finally {
      release();
    }
  })();
  running.set(key, result);
  const clear = () => {
    if (running.get(key) === result) running.delete(key);
  };
  result.then(clear, clear);
  return { result, joined: false };
}
