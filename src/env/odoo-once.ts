/**
 * One-shot containers in an env's network, output streamed to the job log and what explains a
 * failure kept for the error message: Odoo runs (`--stop-after-init`: database init at create,
 * addon tests on a scratch database, module updates at deploy) and the policy's gate commands.
 */
import { CONTAINER_CONF, CONTAINER_DATA, envLabels } from "./resources";
import { envHost } from "./host";
import type { Environment } from "./env.sql";
import { run } from "../exec/run";
import type { Mount } from "../host/docker";
import type { Deps } from "../deps";
import { OdooOutput } from "./odoo-output";

/** How long the docker client may take to end after its container was removed. */
const CLIENT_GRACE_MS = 60_000;

export interface OneShot {
  image: string;
  /** Container name (removed first: a crashed attempt may have left it). */
  name: string;
  network: string;
  confFile: string;
  dataDir: string;
  dbName: string;
  args: string[];
  log(line: string): void;
  signal: AbortSignal;
  timeoutMs?: number;
}

export interface OneShotResult {
  exitCode: number;
  /** What explains a failure: failing tests, summaries, the last exception (see odoo-output.ts). */
  failure: string;
}

/** A throwaway container in an env's network: removed when it ends, output streamed and digested. */
export interface Throwaway {
  image: string;
  /** Container name; a leftover of a crashed attempt is removed on the name conflict. */
  name: string;
  network: string;
  entrypoint?: string;
  args: string[];
  env?: Record<string, string>;
  secrets?: Record<string, string>;
  mounts?: Mount[];
  log(line: string): void;
  signal: AbortSignal;
  timeoutMs: number;
  /** Last lines kept for a failure that names no Odoo cause. */
  tailLines: number;
}

/**
 * Stopping means removing the container, not the docker client: SIGTERM to the client is only
 * forwarded, Odoo's prefork master defers it, and a killed client leaves a `--rm` container
 * running. `rm --force --volumes` kills and removes it; the client then ends by itself.
 */
export async function runThrowaway(deps: Deps, env: Environment, t: Throwaway): Promise<OneShotResult> {
  const host = envHost(deps);
  const remove = () => run(host.docker.rm(t.name, { force: true }), { nothrow: true });
  let stopped: string | null = null;
  const stop = (why: string) => {
    if (stopped) return;
    stopped = why;
    void remove();
  };
  const onAbort = () => stop("cancelled");
  let output = new OdooOutput(t.tailLines);
  const once = () =>
    run(
      {
        ...host.docker.run({
          image: t.image,
          name: t.name,
          rm: true,
          labels: envLabels(env, "init"),
          // The env's tier limits: a test run or a gate is the env's code too.
          cpus: Number(env.cpus),
          memoryMb: env.memoryMb,
          network: t.network,
          hostGateway: true,
          entrypoint: t.entrypoint,
          args: t.args,
          env: t.env,
          secrets: t.secrets,
          mounts: t.mounts,
        }),
        // Only a backstop: the timer below removes the container first.
        timeoutMs: t.timeoutMs + CLIENT_GRACE_MS,
      },
      {
        nothrow: true,
        onLine: (_s, line) => {
          t.log(line);
          output.push(line);
        },
      },
    );
  if (t.signal.aborted) return { exitCode: 130, failure: "cancelled before it started" };
  t.signal.addEventListener("abort", onAbort, { once: true });
  const limit =
    t.timeoutMs >= 60_000 ? `${Math.round(t.timeoutMs / 60_000)} min` : `${Math.round(t.timeoutMs / 1000)} s`;
  const timer = setTimeout(() => stop(`timed out after ${limit}`), t.timeoutMs);
  try {
    let r = await once();
    // Left by an attempt that crashed: removed and run again (not checked up front: one docker call less).
    if (!stopped && r.exitCode === 125 && /is already in use/.test(r.stderr)) {
      await remove();
      output = new OdooOutput(t.tailLines);
      r = await once();
    }
    if (!stopped) return { exitCode: r.exitCode, failure: output.explain() };
    // The client may have ended before the container existed (a cancel during `docker run`'s create).
    await remove();
    t.log(`odooops: ${stopped}; container ${t.name} removed`);
    return { exitCode: r.exitCode, failure: `${stopped}; container ${t.name} removed\n${output.explain()}` };
  } finally {
    clearTimeout(timer);
    t.signal.removeEventListener("abort", onAbort);
  }
}

/** Odoo's argv for a one-off run: never prefork (tests, wkhtmltopdf and cancel need one process). */
export function odooOnceArgs(dbName: string, args: string[]): string[] {
  return ["-c", CONTAINER_CONF, "-d", dbName, ...args, "--workers", "0", "--stop-after-init"];
}

export function runOdooOnce(deps: Deps, env: Environment, o: OneShot): Promise<OneShotResult> {
  return runThrowaway(deps, env, {
    image: o.image,
    name: o.name,
    network: o.network,
    mounts: [
      { source: o.dataDir, target: CONTAINER_DATA },
      { source: o.confFile, target: CONTAINER_CONF, readonly: true },
    ],
    args: odooOnceArgs(o.dbName, o.args),
    log: o.log,
    signal: o.signal,
    timeoutMs: o.timeoutMs ?? 60 * 60_000,
    tailLines: 12,
  });
}
