/**
 * Every `odooops init` question as a flag. One table feeds citty, the "no terminal" message and
 * the unknown-flag check (citty alone would silently ignore a mistyped flag).
 */
import { Invalid } from "../errors";

interface FlagDef {
  type: "string" | "boolean";
  description: string;
  /** Shown in the flag list: `--role ROLE`. */
  value?: string;
  default?: boolean;
  alias?: string;
}

export const INIT_FLAGS = {
  yes: {
    type: "boolean",
    alias: "y",
    description: "ask nothing: current values and defaults, changed by the flags given (required without a terminal)",
  },
  role: {
    type: "string",
    value: "ROLE",
    description: "standalone (coordinator + agent, the default), coordinator or agent",
  },
  "join-url": { type: "string", value: "URL", description: "agent: the coordinator's URL" },
  "join-token": { type: "string", value: "TOKEN", description: "agent: the one-time join token from the coordinator" },
  listen: { type: "string", value: "HOST:PORT", description: "API address (default 127.0.0.1:8420)" },
  "public-url": { type: "string", value: "URL", description: "coordinator: the URL agents and GitHub use to reach it" },
  "base-domain": {
    type: "string",
    value: "DOMAIN",
    description: "envs are served at <name>.<tier subdomain>.<base domain>",
  },
  "subdomain-dev": { type: "string", value: "LABEL", description: "subdomain of dev envs (default dev)" },
  "subdomain-preview": {
    type: "string",
    value: "LABEL",
    description: "subdomain of PR previews, tier dev_ephemeral (default preview)",
  },
  "subdomain-staging": { type: "string", value: "LABEL", description: "subdomain of staging envs (default staging)" },
  "subdomain-production": {
    type: "string",
    value: "LABEL",
    description: "subdomain of production envs (default none: <name>.<base domain>)",
  },
  "acme-email": { type: "string", value: "EMAIL", description: "contact for certificate expiry notices" },
  "acme-ca": {
    type: "string",
    value: "CA",
    description: "letsencrypt, letsencrypt-staging, an ACME directory URL, or none (no certificates)",
  },
  "acme-ca-file": { type: "string", value: "PEM", description: "CA bundle to trust for a private ACME directory" },
  "local-backups": { type: "boolean", description: "keep backups on this host (--no-local-backups: S3 only)" },
  "backup-dir": { type: "string", value: "DIR", description: "local backup directory (default <data dir>/backups)" },
  s3: { type: "boolean", description: "--no-s3 removes the S3 backup target" },
  "s3-endpoint": { type: "string", value: "URL", description: "S3-compatible endpoint (omit for AWS)" },
  "s3-region": { type: "string", value: "REGION", description: "S3 region (default us-east-1)" },
  "s3-bucket": { type: "string", value: "BUCKET", description: "S3 bucket for off-host backups" },
  "s3-prefix": { type: "string", value: "PREFIX", description: "key prefix inside the bucket" },
  "s3-access-key-id": { type: "string", value: "ID", description: "S3 access key id" },
  "s3-secret-key-file": {
    type: "string",
    value: "FILE",
    description: "file holding the S3 secret key (- reads stdin)",
  },
  "s3-path-style": { type: "boolean", description: "path-style S3 URLs (MinIO and most self-hosted servers)" },
  "admin-user": { type: "string", value: "NAME", description: "API admin user (default admin)" },
  "admin-password-file": {
    type: "string",
    value: "FILE",
    description: "file holding the admin password (- reads stdin); default: keep it, a new user gets a random one",
  },
  "odoo-image": { type: "string", value: "IMAGE", description: "default Odoo image of new envs" },
  "pg-host": { type: "string", value: "HOST", description: "PostgreSQL host or socket directory" },
  "pg-port": { type: "string", value: "PORT", description: "PostgreSQL port" },
  "pg-user": { type: "string", value: "USER", description: "PostgreSQL admin role (creates env roles and databases)" },
  "pg-password-file": {
    type: "string",
    value: "FILE",
    description: "file holding that role's password (- reads stdin)",
  },
  "pg-setup": {
    type: "boolean",
    default: true,
    description:
      "do not set up the local Debian PostgreSQL cluster (role odooops, listen_addresses, pg_hba); by default init does, with --yes or your consent",
  },
  "pg-hba-file": { type: "string", value: "FILE", description: "the server's pg_hba.conf (empty: do not manage it)" },
  "nginx-config": {
    type: "string",
    value: "FILE",
    description:
      "nginx's main configuration file (default /etc/nginx/nginx.conf); init makes it include odooops' vhosts",
  },
  "install-deps": {
    type: "boolean",
    description: "with --yes: install missing docker.io, postgresql and nginx with apt-get",
  },
  systemd: { type: "boolean", default: true, description: "do not install, enable or start the systemd unit" },
  "unit-file": {
    type: "string",
    value: "FILE",
    description: "where the unit is written (default /etc/systemd/system/odooops.service)",
  },
  binary: { type: "string", value: "PATH", description: "the odooops executable the unit runs (default: this one)" },
  "verify-url": {
    type: "string",
    value: "URL",
    description: "check that <URL>/api/v1/health answers at the end (default with systemd: the listen address)",
  },
} as const satisfies Record<string, FlagDef>;

export type InitFlagName = keyof typeof INIT_FLAGS;

/** The citty args object. */
export function initArgs() {
  return Object.fromEntries(
    Object.entries(INIT_FLAGS).map(([name, d]: [string, FlagDef]) => [
      name,
      {
        type: d.type,
        description: d.description,
        ...(d.value ? { valueHint: d.value } : {}),
        ...(d.alias ? { alias: d.alias } : {}),
        ...(d.default !== undefined ? { default: d.default } : {}),
      },
    ]),
  ) as { [K in InitFlagName]: { type: (typeof INIT_FLAGS)[K]["type"]; description: string } };
}

/** One line per flag, for the message shown when init cannot ask. */
export function flagList(): string {
  const rows = Object.entries(INIT_FLAGS).map(([name, d]: [string, FlagDef]) => {
    const negatable = d.type === "boolean" && name !== "yes" && name !== "install-deps";
    const head =
      d.type === "boolean"
        ? d.default === true
          ? `--no-${name}`
          : negatable
            ? `--[no-]${name}`
            : `--${name}`
        : `--${name} ${d.value ?? "VALUE"}`;
    return [head, d.description] as const;
  });
  const width = Math.max(...rows.map(([h]) => h.length));
  return rows.map(([h, d]) => `  ${h.padEnd(width)}  ${d}`).join("\n");
}

const GLOBAL = new Set(["--json", "--quiet", "-q", "--help", "-h"]);

/** Flags on the line that init does not know (a typo must not be silently ignored). */
export function unknownFlags(rawArgs: string[]): string[] {
  const known = new Set<string>();
  for (const [name, d] of Object.entries(INIT_FLAGS) as [string, FlagDef][]) {
    known.add(`--${name}`);
    if (d.type === "boolean") known.add(`--no-${name}`);
    if (d.alias) known.add(`-${d.alias}`);
  }
  const out: string[] = [];
  for (const a of rawArgs) {
    if (a === "--") break;
    if (!a.startsWith("-") || a === "-") continue;
    const flag = a.includes("=") ? a.slice(0, a.indexOf("=")) : a;
    if (!known.has(flag) && !GLOBAL.has(flag)) out.push(flag);
  }
  return out;
}

export function assertKnownFlags(rawArgs: string[]): void {
  const bad = unknownFlags(rawArgs);
  if (bad.length > 0)
    throw new Invalid(`unknown flag${bad.length > 1 ? "s" : ""} for init: ${bad.join(", ")}\nflags:\n${flagList()}`);
}
