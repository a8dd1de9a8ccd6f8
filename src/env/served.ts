/** "Is the env served?": its health through nginx with its Host header, its database on the container's port, the container's output on failure. */
import { run } from "../exec/run";
import type { Deps } from "../deps";
import { waitHealthy, type HealthTarget } from "./health";
import { envHost } from "./host";
import type { Environment } from "./env.sql";

type ServedEnv = Pick<Environment, "domain" | "dbName" | "httpPort" | "longpollPort" | "workers">;

/** The probes of a served env; without a published port (not running yet) only nginx's. */
export function servedTargets(deps: Pick<Deps, "config">, env: ServedEnv): HealthTarget[] {
  const viaNginx: HealthTarget = { url: `http://127.0.0.1:${deps.config.nginx.httpPort}`, host: env.domain };
  if (!env.httpPort) return [viaNginx];
  const own: HealthTarget[] = [viaNginx, { url: `http://127.0.0.1:${env.httpPort}`, db: env.dbName }];
  return env.workers > 0 && env.longpollPort ? [...own, geventTarget(env.longpollPort)] : own;
}

/**
 * With workers, /websocket is Odoo's gevent process, which the prefork master starts seconds
 * after the HTTP workers answer: served means it answers too. Without this probe real Odoo's
 * websockets answered 502 through nginx right after a start or a switch.
 */
export function geventTarget(port: number): HealthTarget {
  return { url: `http://127.0.0.1:${port}` };
}

export async function waitEnvServed(
  deps: Pick<Deps, "config" | "paths">,
  env: ServedEnv & Pick<Environment, "containerName">,
  io: { log(line: string): void; signal: AbortSignal },
  timeoutMs = deps.config.odoo.healthTimeoutSec * 1000,
): Promise<void> {
  await waitHealthy({ targets: servedTargets(deps, env), timeoutMs, signal: io.signal }).catch(async (err: unknown) => {
    if (env.containerName) {
      const logs = await run(envHost(deps).docker.logs(env.containerName, { tail: 30 }), { nothrow: true });
      io.log(`last container output:\n${logs.stdout}${logs.stderr}`);
    }
    throw err;
  });
}
