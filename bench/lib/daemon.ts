/**
 * Runs dist/odooops as a daemon in a throwaway root (ODOOOPS_ROOT), the way the tests run whole
 * hosts: nothing under /etc or /var/lib is touched, and the CLI finds it via <root>/run/.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { run, type RunResult } from "../../src/exec/run";
import type { JobView } from "../../src/jobs/view";
import { freePort, terminate, waitFor } from "./proc";

export const BINARY = resolve(import.meta.dir, "../../dist/odooops");
/** ≥ 8 characters: the daemon refuses shorter admin passwords at first start. */
export const ADMIN_PASSWORD = "bench-admin-password";

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

/** `extraEnv`: variables for this daemon only (audit-overhead.ts turns protections off for its baseline). */
export async function startDaemon(root: string, extraEnv: Record<string, string> = {}): Promise<Daemon> {
  mkdirSync(root, { recursive: true });
  const runDir = join(root, "run");
  // A daemon killed earlier may have left its URL behind; the CLI must not find a stale one.
  rmSync(join(runDir, "daemon-url"), { force: true });
  const listen = `127.0.0.1:${freePort()}`;
  // A file, not a pipe: an undrained pipe would eventually block the daemon's log writes.
  const logFd = openSync(join(root, "daemon.log"), "a");
  const proc = Bun.spawn([requireBinary(), "serve", "--listen", listen], {
    env: { ...rootEnv(root), ...extraEnv },
    stdin: "ignore",
    stdout: logFd,
    stderr: logFd,
  });
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

/** A finished `--wait` command that ran one job: spawn → exit, the job and its log. */
export interface TimedJob {
  result: RunResult;
  totalMs: number;
  /** Wall clock (ms since the epoch) at spawn, to place job log lines on the same time line. */
  startedAt: number;
  job: JobView;
  /** The job's log, each line prefixed with the daemon's ISO timestamp. */
  log: string;
}

/** The compiled CLI aimed at `root`; a non-zero exit throws with what it printed. */
export function benchCli(root: string, timeoutMs: number) {
  // HOME in the root: a login saved in the real ~/.config must not redirect the CLI.
  const env = { ODOOOPS_ROOT: root, HOME: root, CI: "true" };
  const cli = async (...argv: string[]): Promise<RunResult> => {
    const r = await run({ argv: [BINARY, ...argv], env, timeoutMs }, { nothrow: true });
    if (r.exitCode !== 0) throw new Error(`odooops ${argv.join(" ")} exited ${r.exitCode}:\n${r.stderr}${r.stdout}`);
    return r;
  };
  const timedJob = async (argv: string[]): Promise<TimedJob> => {
    const startedAt = Date.now();
    const t0 = performance.now();
    const result = await cli(...argv);
    const totalMs = performance.now() - t0;
    const jobId = /\(job ([^)\s]+)\)/.exec(result.stderr)?.[1];
    if (!jobId) throw new Error(`odooops ${argv.join(" ")} printed no job id:\n${result.stderr}`);
    const job = JSON.parse((await cli("jobs", "show", jobId, "--json")).stdout) as JobView;
    if (job.status !== "succeeded") throw new Error(`job ${jobId} is ${job.status}: ${job.error}`);
    return { result, totalMs, startedAt, job, log: (await cli("jobs", "logs", jobId)).stdout };
  };
  return { cli, timedJob };
}
