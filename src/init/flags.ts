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

/** A flag that takes a value, listed as `--name VALUE`. */
const text = (value: string, description: string) => ({ type: "string", value, description }) as const;

export const INIT_FLAGS = {
  yes: {
    type: "boolean",
    alias: "y",
    description: "ask nothing: current values and defaults, changed by the flags given (required without a terminal)",
  },
  role: text("ROLE", "standalone (coordinator + agent, the default), coordinator or agent"),
  "join-url": text("URL", "agent: the coordinator's URL"),
  "join-token": text("TOKEN", "agent: the one-time join token from the coordinator"),
  listen: text("HOST:PORT", "API address (default 127.0.0.1:8420)"),
  "public-url": text("URL", "coordinator: the URL agents and GitHub use to reach it"),
  "base-domain": text("DOMAIN", "envs are served at <name>.<tier subdomain>.<base domain>"),
  "subdomain-dev": text("LABEL", "subdomain of dev envs (default dev)"),
  "subdomain-preview": text("LABEL", "subdomain of PR previews, tier dev_ephemeral (default preview)"),
  "subdomain-staging": text("LABEL", "subdomain of staging envs (default staging)"),
  "subdomain-production": text("LABEL", "subdomain of production envs (default none: <name>.<base domain>)"),
  "acme-email": text("EMAIL", "contact for certificate expiry notices"),
  "acme-ca": text("CA", "letsencrypt, letsencrypt-staging, an ACME directory URL, or none (no certificates)"),
  "acme-ca-file": text("PEM", "CA bundle to trust for a private ACME directory"),
  "local-backups": { type: "boolean", description: "keep backups on this host (--no-local-backups: S3 only)" },
  "backup-dir": text("DIR", "local backup directory (default <data dir>/backups)"),
  s3: { type: "boolean", description: "--no-s3 removes the S3 backup target" },
  "s3-endpoint": text("URL", "S3-compatible endpoint (omit for AWS)"),
  "s3-region": text("REGION", "S3 region (default us-east-1)"),
  "s3-bucket": text("BUCKET", "S3 bucket for off-host backups"),
  "s3-prefix": text("PREFIX", "key prefix inside the bucket"),
  "s3-access-key-id": text("ID", "S3 access key id"),
  "s3-secret-key-file": text("FILE", "file holding the S3 secret key (- reads stdin)"),
  "s3-path-style": { type: "boolean", description: "path-style S3 URLs (MinIO and most self-hosted servers)" },
  "admin-user": text("NAME", "API admin user (default admin)"),
  "admin-password-file": text(
    "FILE",
    "file holding the admin password (- reads stdin); default: keep it, a new user gets a random one",
  ),
  "odoo-image": text("IMAGE", "default Odoo image of new envs"),
  "pg-host": text("HOST", "PostgreSQL host or socket directory"),
  "pg-port": text("PORT", "PostgreSQL port"),
  "pg-user": text("USER", "PostgreSQL admin role (creates env roles and databases)"),
  "pg-password-file": text("FILE", "file holding that role's password (- reads stdin)"),
  "pg-setup": {
    type: "boolean",
    default: true,
    description:
      "do not set up the local Debian PostgreSQL cluster (role odooops, listen_addresses, pg_hba); by default init does, with --yes or your consent",
  },
  "pg-hba-file": text("FILE", "the server's pg_hba.conf (empty: do not manage it)"),
  "nginx-config": text(
    "FILE",
    "nginx's main configuration file (default /etc/nginx/nginx.conf); init makes it include odooops' vhosts",
  ),
  "install-deps": {
    type: "boolean",
    description: "with --yes: install missing docker.io, postgresql and nginx with apt-get",
  },
  systemd: { type: "boolean", default: true, description: "do not install, enable or start the systemd unit" },
  "unit-file": text("FILE", "where the unit is written (default /etc/systemd/system/odooops.service)"),
  binary: text("PATH", "the odooops executable the unit runs (default: this one)"),
  "verify-url": text(
    "URL",
    "check that <URL>/api/v1/health answers at the end (default with systemd: the listen address)",
  ),
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
