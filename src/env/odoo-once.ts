/**
 * One-shot containers in an env's network, output streamed to the job log and the tail kept for
 * the error message: Odoo runs (`--stop-after-init`: database init at create, addon tests on a
 * scratch database, module updates at deploy) and the policy's gate commands.
 */
import { CONTAINER_CONF, CONTAINER_DATA, envLabels } from "./resources";
import { envHost } from "./host";
import type { EnvRow } from "./service";
import { run } from "../exec/run";
import type { Mount } from "../host/docker";
import type { JobDeps } from "../jobs/define";

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
  tail: string[];
}

/** A throwaway container in an env's network: removed when it ends, output streamed, tail kept. */
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
  tailLines: number;
}

export async function runThrowaway(deps: JobDeps, env: EnvRow, t: Throwaway): Promise<OneShotResult> {
  const host = envHost(deps);
  const tail: string[] = [];
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
        timeoutMs: t.timeoutMs,
      },
      {
        nothrow: true,
        signal: t.signal,
        onLine: (_s, line) => {
          t.log(line);
          tail.push(line);
          if (tail.length > t.tailLines) tail.shift();
        },
      },
    );
  let r = await once();
  // Left by an attempt that crashed: removed and run again (not checked up front: one docker call less).
  if (r.exitCode === 125 && /is already in use/.test(r.stderr)) {
    await run(host.docker.rm(t.name, { force: true }), { nothrow: true });
    tail.length = 0;
    r = await once();
  }
  return { exitCode: r.exitCode, tail };
}

export function runOdooOnce(deps: JobDeps, env: EnvRow, o: OneShot): Promise<OneShotResult> {
  return runThrowaway(deps, env, {
    image: o.image,
    name: o.name,
    network: o.network,
    mounts: [
      { source: o.dataDir, target: CONTAINER_DATA },
      { source: o.confFile, target: CONTAINER_CONF, readonly: true },
    ],
    args: ["-c", CONTAINER_CONF, "-d", o.dbName, ...o.args, "--stop-after-init"],
    log: o.log,
    signal: o.signal,
    timeoutMs: o.timeoutMs ?? 60 * 60_000,
    tailLines: 40,
  });
}

/** The lines that explain a failed Odoo run (errors and test failures), else the last few. */
export function failureLines(tail: string[]): string {
  const telling = tail.filter((l) => / (ERROR|CRITICAL) |FAIL:|Traceback|Error:/.test(l));
  return (telling.length > 0 ? telling : tail).slice(-12).join("\n");
}
