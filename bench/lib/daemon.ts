/**
 * Runs dist/odooops as a daemon in a throwaway root (ODOOOPS_ROOT), the way the tests run whole
 * hosts: nothing under /etc or /var/lib is touched, and the CLI finds it via <root>/run/.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort, terminate, waitFor } from "./proc";

export const BINARY = resolve(import.meta.dir, "../../dist/odooops");
/** ≥ 8 characters: the daemon refuses shorter admin passwords at first start. */
const ADMIN_PASSWORD = "bench-admin-password";

export interface Daemon {
  pid: number;
  url: string;
  /** Bearer token from <root>/run/local-token; a new one is written at every start. */
  token: string;
  stop(): Promise<void>;
}

export function requireBinary(): string {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`bun run build\` first`);
  return BINARY;
}

/** Environment for any dist/odooops process aimed at `root` (daemon or CLI). */
export function rootEnv(root: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("ODOOOPS_")) env[k] = v;
  return { ...env, ODOOOPS_ROOT: root, ODOOOPS_ADMIN_PASSWORD: ADMIN_PASSWORD };
}

export async function startDaemon(root: string): Promise<Daemon> {
  mkdirSync(root, { recursive: true });
  const runDir = join(root, "run");
  // A daemon killed earlier may have left its URL behind; the CLI must not find a stale one.
  rmSync(join(runDir, "daemon-url"), { force: true });
  const listen = `127.0.0.1:${freePort()}`;
  // A file, not a pipe: an undrained pipe would eventually block the daemon's log writes.
  const logFd = openSync(join(root, "daemon.log"), "a");
  const proc = Bun.spawn([requireBinary(), "serve", "--listen", listen], { env: rootEnv(root), stdin: "ignore", stdout: logFd, stderr: logFd });
  closeSync(logFd);
  const url = `http://${listen}`;
  try {
    await waitFor("the daemon's /api/v1/health", 15_000, async () => {
      if (proc.exitCode !== null) throw new Error(`daemon exited with ${proc.exitCode}`);
      const res = await fetch(`${url}/api/v1/health`, { signal: AbortSignal.timeout(1000) });
      return res.ok ? true : null;
    });
  } catch (e) {
    await terminate(proc);
    const log = existsSync(join(root, "daemon.log")) ? readFileSync(join(root, "daemon.log"), "utf8") : "";
    throw new Error(`${(e as Error).message}\ndaemon log:\n${log}`);
  }
  const token = readFileSync(join(runDir, "local-token"), "utf8").trim();
  return { pid: proc.pid, url, token, stop: () => terminate(proc) };
}
