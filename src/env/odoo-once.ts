/**
 * One-shot Odoo runs (`--stop-after-init`): database init at create, addon tests on a scratch
 * database and module updates at deploy. In the env's network, with the given conf and data
 * dir, output streamed to the job log; the tail is kept for the error message.
 */
import { CONTAINER_CONF, CONTAINER_DATA, envLabels } from "./resources";
import { envHost } from "./host";
import type { EnvRow } from "./service";
import { run } from "../exec/run";
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

const TAIL = 40;

export async function runOdooOnce(deps: JobDeps, env: EnvRow, o: OneShot): Promise<OneShotResult> {
  const host = envHost(deps);
  const tail: string[] = [];
  const once = () =>
    run(
      {
        ...host.docker.run({
          image: o.image,
          name: o.name,
          rm: true,
          labels: envLabels(env, "init"),
          network: o.network,
          hostGateway: true,
          mounts: [
            { source: o.dataDir, target: CONTAINER_DATA },
            { source: o.confFile, target: CONTAINER_CONF, readonly: true },
          ],
          args: ["-c", CONTAINER_CONF, "-d", o.dbName, ...o.args, "--stop-after-init"],
        }),
        timeoutMs: o.timeoutMs ?? 60 * 60_000,
      },
      {
        nothrow: true,
        signal: o.signal,
        onLine: (_s, line) => {
          o.log(line);
          tail.push(line);
          if (tail.length > TAIL) tail.shift();
        },
      },
    );
  let r = await once();
  // Left by an attempt that crashed: removed and run again (not checked up front: one docker call less).
  if (r.exitCode === 125 && /is already in use/.test(r.stderr)) {
    await run(host.docker.rm(o.name, { force: true }), { nothrow: true });
    tail.length = 0;
    r = await once();
  }
  return { exitCode: r.exitCode, tail };
}

/** The lines that explain a failed Odoo run (errors and test failures), else the last few. */
export function failureLines(tail: string[]): string {
  const telling = tail.filter((l) => / (ERROR|CRITICAL) |FAIL:|Traceback|Error:/.test(l));
  return (telling.length > 0 ? telling : tail).slice(-12).join("\n");
}
