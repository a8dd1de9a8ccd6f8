/**
 * Hints that fix PostgreSQL on this host: systemd or not, a Debian cluster (pg_lsclusters) or
 * not. Each is a command that, run as root, does what it says.
 */
import type { Paths } from "../config/paths";
import { run } from "../exec/run";
import { ctlCluster, type PgCluster } from "../host/postgres/cluster";
import { parseUnitState, systemctl } from "../host/systemd";
import { fix, type Hint } from "./check";
import { odooopsArgv } from "./context";
import { detectCluster } from "./postgres-probe";

/** Starts the server on `port`: the unit where systemd runs, else the Debian cluster's own tool. */
export async function startHint(systemd: boolean, port: number): Promise<Hint> {
  const umbrella = systemd
    ? parseUnitState((await run(systemctl().state("postgresql.service"), { nothrow: true })).stdout).active
    : "";
  return startFix(await detectCluster(), systemd, port, umbrella === "active");
}

/**
 * A command only for this host's own cluster on that port: nothing else says how to start another
 * server. Debian's postgresql.service only groups the clusters' units (postgresql@15-main): when it
 * is active, the cluster alone was stopped and starting the group again does nothing.
 */
export function startFix(cluster: PgCluster | null, systemd: boolean, port: number, umbrellaActive = false): Hint {
  if (cluster?.port !== port)
    return `start the PostgreSQL server that should listen on port ${port}, then check postgres.host and postgres.port in the config`;
  if (!systemd) return fix(ctlCluster(cluster, "start").argv);
  return umbrellaActive
    ? fix(["systemctl", "start", `postgresql@${cluster.version}-${cluster.name}`])
    : fix(["systemctl", "enable", "--now", "postgresql"]);
}

/**
 * The login is refused (peer auth for `postgres` on Debian, a wrong password): on a Debian
 * cluster init creates odooops' own role with a password and writes it into the config.
 */
export async function loginHint(cfg: { host: string; port: number }, paths: Paths): Promise<Hint> {
  const c = await detectCluster();
  const local = cfg.host.startsWith("/") || cfg.host === "127.0.0.1" || cfg.host === "localhost";
  return c?.port === cfg.port && local
    ? fix(
        odooopsArgv(paths, "init", "--yes"),
        "creates PostgreSQL role odooops with a password, reachable over 127.0.0.1, and writes it into the config; other settings are kept",
      )
    : "correct postgres.user and postgres.password (odooops init --pg-user NAME --pg-password-file FILE)";
}
