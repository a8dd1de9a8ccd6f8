/** The host adapters an environment job uses, built from settings (tests point them at their own services). */
import { join } from "node:path";
import type { SQL } from "bun";
import type { Deps } from "../deps";
import { docker, dockerClient } from "../host/docker";
import { envTls } from "../certs/env-cert";
import { nginxHost, renderVhost, type VhostSpec } from "../host/nginx";
import { pgAdmin } from "../host/postgres";
import { envAccess } from "./access";
import { odooUser } from "./resources";
import type { Environment } from "./env.sql";

export function envHost(deps: Pick<Deps, "config" | "paths">) {
  const { config, paths } = deps;
  return {
    docker: docker({ binary: config.docker.binary, runAs: odooUser(config) }),
    dockerClient: dockerClient(config.docker),
    nginx: nginxHost(config.nginx, paths),
    /** Runs `fn` with the admin connection and always closes it. */
    async withAdmin<T>(fn: (sql: SQL) => Promise<T>): Promise<T> {
      const sql = pgAdmin(config.postgres);
      try {
        return await fn(sql);
      } finally {
        await sql.close();
      }
    },
  };
}

/** The env's vhost: HTTP only, or HTTPS (with the redirect) while its domain has a certificate. */
export function envVhostSpec(
  deps: Pick<Deps, "config" | "paths">,
  env: Pick<Environment, "slug" | "domain" | "tier" | "workers">,
  ports: { http: number; longpoll: number },
): VhostSpec {
  return {
    slug: env.slug,
    serverNames: [env.domain],
    listenPort: deps.config.nginx.httpPort,
    httpPort: ports.http,
    // Threaded Odoo (workers 0) has no gevent port: /websocket is served on the HTTP port.
    longpollPort: env.workers > 0 ? ports.longpoll : null,
    acmeWebroot: deps.paths.acmeWebroot,
    logDir: join(deps.paths.logsDir, "nginx"),
    clientMaxBodySize: deps.config.nginx.clientMaxBodySize,
    tls: envTls(deps, env),
    access: envAccess(deps, env),
  };
}

export function envVhost(
  deps: Pick<Deps, "config" | "paths">,
  env: Pick<Environment, "slug" | "domain" | "tier" | "workers">,
  ports: { http: number; longpoll: number },
): string {
  return renderVhost(envVhostSpec(deps, env, ports));
}
