/**
 * The local PostgreSQL cluster of a Debian/Ubuntu host (postgresql-common): found with
 * `pg_lsclusters`, configured under /etc/postgresql/<version>/<cluster>/, started with
 * `pg_ctlcluster` (which hands over to systemctl itself where systemd runs).
 */
import type { Command } from "../../exec/command";

export interface PgCluster {
  version: string;
  name: string;
  port: number;
  online: boolean;
  owner: string;
}

/** Debian's socket directory (the cluster's unix_socket_directories default). */
export const DEBIAN_SOCKET_DIR = "/var/run/postgresql";

export function lsClusters(): Command {
  return { argv: ["pg_lsclusters", "--no-header"], timeoutMs: 20_000 };
}

/** "15  main    5432 online postgres /var/lib/… /var/log/…" per line; lines that do not parse are skipped. */
export function parseClusters(text: string): PgCluster[] {
  return text.split("\n").flatMap((line) => {
    const m = /^(\d+(?:\.\d+)?)\s+(\S+)\s+(\d+)\s+(\S+)\s+(\S+)/.exec(line.trim());
    if (!m) return [];
    return [{ version: m[1], name: m[2], port: Number(m[3]), online: m[4].startsWith("online"), owner: m[5] }];
  });
}

/** The cluster odooops uses: an online one first, then `main`, then the newest version. */
export function pickCluster(clusters: PgCluster[]): PgCluster | null {
  const score = (c: PgCluster) => (c.online ? 2 : 0) + (c.name === "main" ? 1 : 0);
  return [...clusters].sort((a, b) => score(b) - score(a) || Number(b.version) - Number(a.version))[0] ?? null;
}

export function clusterConfigDir(c: PgCluster): string {
  return `/etc/postgresql/${c.version}/${c.name}`;
}

/** The command that starts (or restarts) the cluster on this host. */
export function ctlCluster(c: PgCluster, action: "start" | "restart"): Command {
  return { argv: ["pg_ctlcluster", c.version, c.name, action], timeoutMs: 120_000 };
}
