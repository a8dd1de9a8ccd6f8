/**
 * Starting a release beside the serving one and switching nginx to it: the zero-downtime part
 * of deploy and rollback. The serving container is never touched until the new one answers its
 * health check on its own port; after the switch the old one drains, then stops (kept, not
 * removed: it is a rollback target).
 */
import { Unavailable } from "../errors";
import { webContainerSpec } from "../env/container";
import { type Environment } from "../env/env.sql";
import { probeAll } from "../env/health";
import { geventTarget, waitEnvServed } from "../env/served";
import { recordServing } from "../env/state";
import { envHost, envVhost } from "../env/host";
import { writeEnvAccess } from "../env/access";
import { takenPorts } from "../env/lookup";
import { allocatePortPair } from "../env/ports";
import { envResources, ODOO_HTTP_PORT, ODOO_LONGPOLL_PORT } from "../env/resources";
import { run } from "../exec/run";
import { reload, writeVhost } from "../host/nginx";
import type { Deps } from "../deps";

export const LABEL_RELEASE = "odooops.release";

export interface Serving {
  container: string | null;
  httpPort: number | null;
  longpollPort: number | null;
  release: number;
}

export interface StartedRelease {
  container: string;
  httpPort: number;
  longpollPort: number;
  release: number;
}

export function servingOf(env: Environment): Serving {
  return { container: env.containerName, httpPort: env.httpPort, longpollPort: env.longpollPort, release: env.release };
}

interface Io {
  log(line: string): void;
  signal: AbortSignal;
}

/**
 * Starts `image` as release `release` on a fresh port pair and waits until it serves the env's
 * database on its own port (see env/health). Idempotent: a running container of that
 * release is reused. A release that exits or never turns healthy is removed and reported with
 * the tail of its output.
 */
export async function startRelease(
  deps: Deps,
  env: Environment,
  release: number,
  image: string,
  io: Io,
): Promise<StartedRelease> {
  return startBeside(deps, env, envResources(env, deps).webContainer(release), release, image, io);
}

/**
 * startRelease under a given container name: `db rotate-credentials` starts the serving
 * release's image again beside itself, under a second name, on the new login.
 */
export async function startBeside(
  deps: Deps,
  env: Environment,
  name: string,
  release: number,
  image: string,
  io: Io,
): Promise<StartedRelease> {
  const host = envHost(deps);
  const existing = await host.dockerClient.inspectContainer(name);
  let ports: [number, number];
  const running = existing?.State.Running
    ? [
        host.dockerClient.publishedPort(existing, ODOO_HTTP_PORT),
        host.dockerClient.publishedPort(existing, ODOO_LONGPOLL_PORT),
      ]
    : [];
  if (existing?.Config.Image === image && running[0] && running[1]) {
    ports = [running[0], running[1]];
    io.log(`release ${release}: ${name} already running on 127.0.0.1:${ports[0]}`);
  } else {
    await run(host.docker.rm(name, { force: true }), { nothrow: true });
    const taken = takenPorts(deps.db, env.id);
    for (const p of [env.httpPort, env.longpollPort]) if (p) taken.add(p);
    ports = await allocatePortPair(deps.config.ports, taken);
    const spec = webContainerSpec(deps, env, name, { http: ports[0], longpoll: ports[1] }, image);
    await run(host.docker.run({ ...spec, labels: { ...spec.labels, [LABEL_RELEASE]: String(release) } }));
    io.log(`release ${release}: started ${name} (${image}) on 127.0.0.1:${ports[0]} / :${ports[1]}`);
  }
  try {
    await waitReleaseHealthy(
      deps,
      name,
      { http: ports[0], longpoll: env.workers > 0 ? ports[1] : null },
      env.dbName,
      io,
    );
  } catch (err) {
    const logs = await run(host.docker.logs(name, { tail: 40 }), { nothrow: true });
    io.log(`last output of ${name}:\n${logs.stdout}${logs.stderr}`);
    await run(host.docker.rm(name, { force: true }), { nothrow: true });
    throw err;
  }
  return { container: name, httpPort: ports[0], longpollPort: ports[1], release };
}

/** `db` served on the container's own port; fails at once when the container stops (a crash on boot). */
export async function waitReleaseHealthy(
  deps: Deps,
  name: string,
  ports: { http: number; longpoll: number | null },
  db: string,
  io: Io,
): Promise<void> {
  const host = envHost(deps);
  const deadline = Date.now() + deps.config.deploy.healthTimeoutSec * 1000;
  // Both questions of the health gate (Odoo's health, the login page from the env's database), and the gevent port with workers.
  const url = `http://127.0.0.1:${ports.http}`;
  const targets = [{ url }, { url, db }, ...(ports.longpoll ? [geventTarget(ports.longpoll)] : [])];
  let last = "no answer yet";
  for (let i = 0; Date.now() < deadline; i++) {
    if (io.signal.aborted) throw new Unavailable("cancelled while waiting for the new release");
    const r = await probeAll(targets);
    if (r.ok) return;
    last = r.detail;
    if (i % 4 === 3) {
      const info = await host.dockerClient.inspectContainer(name);
      if (!info?.State.Running || info.State.Status === "restarting" || (info.RestartCount ?? 0) > 0) {
        throw new Unavailable(
          `the new release exited during start (exit code ${info?.State.ExitCode ?? "?"}) before answering its health check`,
        );
      }
    }
    await Bun.sleep(250);
  }
  throw new Unavailable(
    `the new release did not turn healthy within ${deps.config.deploy.healthTimeoutSec} s: ${last}`,
  );
}

/** Points the env's vhost at `to` (nginx -t, reload), proves it through nginx, records it on the env. */
export async function pointNginxAt(
  deps: Deps,
  env: Environment,
  to: { container: string; httpPort: number; longpollPort: number; release: number },
  io: Io,
): Promise<void> {
  const host = envHost(deps);
  writeEnvAccess(deps, env);
  const changed = await writeVhost(
    host.nginx,
    env.slug,
    envVhost(deps, env, { http: to.httpPort, longpoll: to.longpollPort }),
  );
  if (changed) await reload(host.nginx);
  await waitEnvServed(deps, { ...env, containerName: to.container, httpPort: to.httpPort }, io, 30_000);
  recordServing(deps.db, env.id, {
    containerName: to.container,
    httpPort: to.httpPort,
    longpollPort: to.longpollPort,
    release: to.release,
  });
  io.log(`nginx now serves ${env.domain} from ${to.container} (127.0.0.1:${to.httpPort})`);
}

/** After the switch: requests in flight finish on the old release, then it stops (kept for rollback). */
export async function retire(deps: Deps, container: string | null, io: Io): Promise<void> {
  if (!container) return;
  const drain = deps.config.deploy.drainSec;
  if (drain > 0) await Bun.sleep(drain * 1000);
  const r = await run(envHost(deps).docker.stop(container, 30), { nothrow: true });
  io.log(
    r.exitCode === 0
      ? `stopped ${container} after ${drain} s of drain (kept for rollback)`
      : `could not stop ${container}: ${r.stderr.trim()}`,
  );
}

/** Brings the previous release back in front (undo of a switch). */
export async function restoreServing(deps: Deps, env: Environment, prev: Serving, io: Io): Promise<void> {
  if (!prev.container || !prev.httpPort || !prev.longpollPort) return;
  const host = envHost(deps);
  await run(host.docker.start(prev.container), { nothrow: true });
  await waitReleaseHealthy(
    deps,
    prev.container,
    { http: prev.httpPort, longpoll: env.workers > 0 ? prev.longpollPort : null },
    env.dbName,
    io,
  );
  await pointNginxAt(
    deps,
    env,
    { container: prev.container, httpPort: prev.httpPort, longpollPort: prev.longpollPort, release: prev.release },
    io,
  );
}
