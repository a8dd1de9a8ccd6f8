/**
 * Who may open an env's site (config `access.<tier>`): the vhost's `auth_basic` / `allow` rules
 * and the user file beside it, holding the project's credentials.
 */
import type { Deps } from "../deps";
import { groupGid, htpasswdFile, htpasswdLine, nginxHost, writeHtpasswd, type VhostAccess } from "../host/nginx";
import { projectAccess } from "./projects";
import type { Environment } from "./env.sql";

/** The vhost's access rules; undefined = public (production by default). */
export function envAccess(
  deps: Pick<Deps, "config" | "paths">,
  env: Pick<Environment, "slug" | "tier">,
): VhostAccess | undefined {
  const a = deps.config.access[env.tier];
  if (!a.basicAuth && a.allow.length === 0) return undefined;
  return {
    htpasswdFile: a.basicAuth ? htpasswdFile(nginxHost(deps.config.nginx, deps.paths).sitesDir, env.slug) : undefined,
    allow: a.allow,
  };
}

/** Writes the env's user file when its tier asks for credentials; before every vhost write (nginx reads it per request). */
export function writeEnvAccess(deps: Deps, env: Pick<Environment, "slug" | "tier" | "projectId">): void {
  const file = envAccess(deps, env)?.htpasswdFile;
  if (!file) return;
  const { user, password } = projectAccess(deps.db, deps.box, env.projectId);
  writeHtpasswd(file, htpasswdLine(user, password), groupGid(deps.config.nginx.group));
}
