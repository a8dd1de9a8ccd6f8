/**
 * The steps that give an env its network and put its web container behind nginx until it is
 * served (health, then HTTPS), shared by `env create` and `dr rebuild` (which recreates an env
 * from state on a fresh host the same way), and how such a job marks the env served.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { envTlsStep, httpFallbackReason, tlsOutput } from "../certs/env-tls";
import type { Deps } from "../deps";
import { CommandFailed } from "../errors";
import { run } from "../exec/run";
import { reload, removeVhost, writeVhost } from "../host/nginx";
import { type StepContext, type StepDef, stepOutput, storingStep } from "../jobs/define";
import { writeEnvAccess } from "./access";
import { webContainerSpec } from "./container";
import type { Environment } from "./env.sql";
import { envHost, envVhost } from "./host";
import { loadEnvById, removeEnvContainers, takenPorts } from "./lookup";
import { allocatePortPair } from "./ports";
import { envLabels, envResources, ODOO_HTTP_PORT, ODOO_LONGPOLL_PORT } from "./resources";
import { markActive, markServedOverHttp, recordServing } from "./state";
import { waitEnvServed } from "./served";

type EnvCtx = StepContext<{ envId: string }>;
const envOf = (ctx: EnvCtx): Environment => loadEnvById(ctx.deps.db, ctx.params.envId);

const WebContainer = z.object({ container: z.string(), httpPort: z.number(), longpollPort: z.number() });
export type WebContainer = z.infer<typeof WebContainer>;

/** The env's network subnet: its pg_hba line lets only that network reach the database. */
export const networkOutput = stepOutput("network", z.object({ network: z.string(), subnet: z.string() }));
/** The ports the vhost proxies to. */
const containerOutput = stepOutput("container", WebContainer);

/**
 * `undo` on a create, which removes what it made when it fails; a rebuild has none (the env may
 * have been there already, and a rerun finishes the job).
 */
export function networkStep<P extends { envId: string }>(opts: { undo: boolean }): StepDef<P> {
  return storingStep(networkOutput, {
    title: "Creating the network",
    async run(ctx) {
      const env = envOf(ctx);
      const net = envResources(env, ctx.deps).network;
      const info = await envHost(ctx.deps).dockerClient.ensureNetwork(net, envLabels(env, "network"));
      const subnet = info.IPAM.Config?.find((c) => c.Subnet && !c.Subnet.includes(":"))?.Subnet;
      if (!subnet)
        throw new CommandFailed(["docker", "network", "inspect", net], 0, "", `network ${net} has no IPv4 subnet`);
      return { network: net, subnet };
    },
    ...(opts.undo
      ? {
          async undo(ctx: StepContext<P>) {
            await run(envHost(ctx.deps).docker.networkRm(envResources(envOf(ctx), ctx.deps).network), {
              nothrow: true,
            });
          },
        }
      : {}),
  });
}

/**
 * The last steps of both jobs: start the web container (`start`), its vhost, the health gate,
 * HTTPS. With `undo` (create) a failure removes the container and the vhost again.
 */
export function servingSteps<P extends { envId: string }>(opts: {
  start(ctx: StepContext<P>): Promise<WebContainer>;
  undo: boolean;
}): StepDef<P>[] {
  return [
    storingStep(containerOutput, {
      title: "Starting Odoo",
      run: opts.start,
      ...(opts.undo
        ? {
            async undo(ctx: StepContext<P>) {
              await removeEnvContainers(ctx.deps, envOf(ctx));
            },
          }
        : {}),
    }),
    {
      name: "vhost",
      title: "Configuring nginx",
      run: (ctx) => configureEnvVhost(ctx.deps, envOf(ctx), ctx.output(containerOutput)),
      ...(opts.undo
        ? {
            async undo(ctx: StepContext<P>) {
              const host = envHost(ctx.deps);
              if (await removeVhost(host.nginx, envOf(ctx).slug)) await reload(host.nginx);
            },
          }
        : {}),
    },
    {
      name: "health",
      title: "Waiting for Odoo to answer",
      run: (ctx) => waitEnvServed(ctx.deps, envOf(ctx), ctx),
    },
    envTlsStep<P>(),
  ];
}

/** After the serving steps: active, or active over HTTP when HTTPS failed (the reason says why and how to retry). */
export function markEnvServed(ctx: EnvCtx): Environment {
  const overHttp = httpFallbackReason(ctx.outputIfDone(tlsOutput));
  return overHttp
    ? markServedOverHttp(ctx.deps.db, ctx.params.envId, overHttp)
    : markActive(ctx.deps.db, ctx.params.envId);
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
