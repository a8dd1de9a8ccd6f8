/**
 * A policy's gate command (`health_gates.<tier>.tests.command`, `smoke_tests.command`): run as
 * argv in a throwaway container of the release image on the env's docker network, never as a
 * shell string on the host. Output goes to the job log; the tail explains a failure.
 */
import { envHost } from "../env/host";
import { envLabels } from "../env/resources";
import type { EnvRow } from "../env/service";
import { run } from "../exec/run";
import type { Mount } from "../host/docker";
import type { JobDeps } from "../jobs/define";

export interface GateCommand {
  image: string;
  name: string;
  network: string;
  command: string[];
  env: Record<string, string>;
  secrets?: Record<string, string>;
  mounts?: Mount[];
  log(line: string): void;
  signal: AbortSignal;
}

const TAIL = 30;
const TIMEOUT_MS = 30 * 60_000;

export async function runGateCommand(deps: JobDeps, env: EnvRow, g: GateCommand): Promise<{ exitCode: number; tail: string[] }> {
  const host = envHost(deps);
  const [entrypoint, ...args] = g.command;
  // A crashed attempt may have left a container of this name.
  await run(host.docker.rm(g.name, { force: true }), { nothrow: true });
  const tail: string[] = [];
  const r = await run(
    {
      ...host.docker.run({
        image: g.image,
        name: g.name,
        rm: true,
        labels: envLabels(env, "init"),
        network: g.network,
        hostGateway: true,
        entrypoint,
        args,
        env: g.env,
        secrets: g.secrets,
        mounts: g.mounts,
      }),
      timeoutMs: TIMEOUT_MS,
    },
    {
      nothrow: true,
      signal: g.signal,
      onLine: (_s, line) => {
        g.log(line);
        tail.push(line);
        if (tail.length > TAIL) tail.shift();
      },
    },
  );
  return { exitCode: r.exitCode, tail };
}
