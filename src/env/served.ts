/** "Is the env served?": its health through nginx with its Host header, the container's output on failure. */
import { run } from "../exec/run";
import type { JobDeps } from "../jobs/define";
import { waitHealthy } from "./health";
import { envHost } from "./host";
import type { EnvRow } from "./service";

export async function waitEnvServed(
  deps: Pick<JobDeps, "config" | "paths">,
  env: Pick<EnvRow, "domain" | "containerName">,
  io: { log(line: string): void; signal: AbortSignal },
  timeoutMs = deps.config.odoo.healthTimeoutSec * 1000,
): Promise<void> {
  await waitHealthy({ url: `http://127.0.0.1:${deps.config.nginx.httpPort}`, host: env.domain, timeoutMs, signal: io.signal }).catch(async (err: unknown) => {
    if (env.containerName) {
      const logs = await run(envHost(deps).docker.logs(env.containerName, { tail: 30 }), { nothrow: true });
      io.log(`last container output:\n${logs.stdout}${logs.stderr}`);
    }
    throw err;
  });
}
