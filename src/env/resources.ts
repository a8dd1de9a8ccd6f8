/**
 * Everything an environment owns on its host, by name and label, so create, destroy and the
 * "nothing left behind" check all agree on what belongs to an env.
 */
import { join } from "node:path";
import type { Config } from "../config/schema";
import type { Paths } from "../config/paths";
import type { Environment } from "./env.sql";

export const LABEL_MANAGED = "odooops.managed";
export const LABEL_ENV = "odooops.env";
export const LABEL_SLUG = "odooops.slug";
export const LABEL_ROLE = "odooops.role";

export function envLabels(
  env: Pick<Environment, "id" | "slug">,
  role: "web" | "init" | "network",
): Record<string, string> {
  return { [LABEL_MANAGED]: "true", [LABEL_ENV]: env.id, [LABEL_SLUG]: env.slug, [LABEL_ROLE]: role };
}

export function envResources(
  env: Pick<Environment, "slug" | "domain">,
  { paths, config }: { paths: Paths; config: Config },
) {
  const dir = join(paths.envsDir, env.slug);
  const prefix = config.docker.namePrefix;
  return {
    dir,
    /** Mounted as /var/lib/odoo: filestore, sessions and downloaded addons survive releases. */
    dataDir: join(dir, "data"),
    confFile: join(dir, "odoo.conf"),
    network: `${prefix}-${env.slug}`,
    initContainer: `${prefix}-${env.slug}-init`,
    webContainer: (release: number) => `${prefix}-${env.slug}-r${release}`,
    certDir: join(paths.certsDir, env.domain),
  };
}

export const CONTAINER_CONF = "/etc/odoo/odoo.conf";
export const CONTAINER_DATA = "/var/lib/odoo";
export const ODOO_HTTP_PORT = 8069;
export const ODOO_LONGPOLL_PORT = 8072;

export function odooUser(config: Config): string {
  return `${config.odoo.uid}:${config.odoo.gid}`;
}
