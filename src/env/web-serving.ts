/**
 * The two steps that put an env's web container behind nginx, shared by `env create` and
 * `dr rebuild` (which recreates an env from state on a fresh host the same way).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Deps } from "../deps";
import { run } from "../exec/run";
import { reload, writeVhost } from "../host/nginx";
import { writeEnvAccess } from "./access";
import { webContainerSpec } from "./container";
import type { Environment } from "./env.sql";
import { envHost, envVhost } from "./host";
import { takenPorts } from "./lookup";
import { allocatePortPair } from "./ports";
import { envResources, ODOO_HTTP_PORT, ODOO_LONGPOLL_PORT } from "./resources";
import { recordServing } from "./state";

export interface WebContainer {
  container: string;
  httpPort: number;
  longpollPort: number;
}

/**
 * The env's release container running and recorded as serving. A running one on the stored ports
 * is kept (a rerun after a crash); otherwise it is started again, on the stored ports when
 * `reuseStoredPorts` and this host has them free (the vhost then stays as it was), else on a
 * new pair.
 */
export async function startWebContainer(
  deps: Deps,
  env: Environment,
  opts: { image?: string; reuseStoredPorts: boolean; log: (line: string) => void },
): Promise<WebContainer> {
  const host = envHost(deps);
  const release = Math.max(1, env.release);
  const name = envResources(env, deps).webContainer(release);
  const existing = await host.dockerClient.inspectContainer(name);
  const stored: [number, number] | null = env.httpPort && env.longpollPort ? [env.httpPort, env.longpollPort] : null;
  let ports: [number, number];
  if (existing?.State.Running && stored) ports = stored;
  else {
    if (existing) await run(host.docker.rm(name, { force: true }), { nothrow: true });
    const taken = takenPorts(deps.db, env.id);
    ports =
      opts.reuseStoredPorts && stored && !taken.has(stored[0]) && !taken.has(stored[1])
        ? stored
        : await allocatePortPair(deps.config.ports, taken);
    await run(host.docker.run(webContainerSpec(deps, env, name, { http: ports[0], longpoll: ports[1] }, opts.image)));
  }
  recordServing(deps.db, env.id, { httpPort: ports[0], longpollPort: ports[1], containerName: name, release });
  opts.log(
    `container ${name} on 127.0.0.1:${ports[0]} (http) and :${ports[1]} (longpolling → ${ODOO_LONGPOLL_PORT}), odoo ${ODOO_HTTP_PORT}`,
  );
  return { container: name, httpPort: ports[0], longpollPort: ports[1] };
}

/** The env's vhost (and its access file) written for `ports`, and nginx reloaded. */
export async function configureEnvVhost(deps: Deps, env: Environment, ports: WebContainer): Promise<void> {
  const host = envHost(deps);
  mkdirSync(deps.paths.acmeWebroot, { recursive: true });
  mkdirSync(join(deps.paths.logsDir, "nginx"), { recursive: true });
  writeEnvAccess(deps, env);
  await writeVhost(host.nginx, env.slug, envVhost(deps, env, { http: ports.httpPort, longpoll: ports.longpollPort }));
  await reload(host.nginx);
}
