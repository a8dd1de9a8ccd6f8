/** The serving Odoo container of an environment, as a docker run spec. */
import type { RunSpec } from "../host/docker";
import type { Deps } from "../deps";
import {
  CONTAINER_CONF,
  CONTAINER_DATA,
  envLabels,
  envResources,
  ODOO_HTTP_PORT,
  ODOO_LONGPOLL_PORT,
} from "./resources";
import type { Environment } from "./env.sql";

export function webContainerSpec(
  deps: Pick<Deps, "paths" | "config">,
  env: Pick<Environment, "id" | "slug" | "domain" | "odooImage" | "cpus" | "memoryMb">,
  name: string,
  ports: { http: number; longpoll: number },
  image = env.odooImage,
): RunSpec {
  const r = envResources(env, deps);
  return {
    image,
    name,
    detach: true,
    labels: envLabels(env, "web"),
    restart: "unless-stopped",
    cpus: Number(env.cpus),
    memoryMb: env.memoryMb,
    network: r.network,
    hostGateway: true,
    publish: [
      { hostPort: ports.http, containerPort: ODOO_HTTP_PORT },
      { hostPort: ports.longpoll, containerPort: ODOO_LONGPOLL_PORT },
    ],
    mounts: [
      { source: r.dataDir, target: CONTAINER_DATA },
      { source: r.confFile, target: CONTAINER_CONF, readonly: true },
    ],
    logMaxSize: "50m",
    logMaxFiles: 5,
    stopTimeoutSec: 30,
  };
}
