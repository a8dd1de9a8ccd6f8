/** "Is the env served?": its health through nginx with its Host header, its database on the container's port, the container's output on failure. */
import { run } from "../exec/run";
import type { JobDeps } from "../jobs/define";
import { waitHealthy, type HealthTarget } from "./health";
import { envHost } from "./host";
import type { Environment } from "./env.sql";

/** The probes of a served env; without a published port (not running yet) only nginx's. */
export function servedTargets(
  deps: Pick<JobDeps, "config">,
  env: Pick<Environment, "domain" | "dbName" | "httpPort">,
): HealthTarget[] {
  const viaNginx: HealthTarget = { url: `http://127.0.0.1:${deps.config.nginx.httpPort}`, host: env.domain };
  return env.httpPort ? [viaNginx, { url: `http://127.0.0.1:${env.httpPort}`, db: env.dbName }] : [viaNginx];
}

export async function waitEnvServed(
  deps: Pick<JobDeps, "config" | "paths">,
  env: Pick<Environment, "domain" | "containerName" | "dbName" | "httpPort">,
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
