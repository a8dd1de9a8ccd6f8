/**
 * Runs init's PostgreSQL setup (plans in ./pg-setup.ts): every statement goes to psql as the
 * cluster's owner over the local socket; the daemon then logs in over TCP 127.0.0.1 with the
 * generated password. Idempotent: an existing role keeps its password unless a reset is
 * allowed, a covered listen_addresses and an existing loopback line are left alone.
 */
import { readFileSync } from "node:fs";
import { randomSecret } from "../auth/secretbox";
import type { Config } from "../config/schema";
import { probePostgres } from "../doctor/postgres-probe";
import { bridgeAddress } from "../doctor/postgres";
import { run } from "../exec/run";
import { scramVerifier, writeHbaFileAtomic } from "../host/postgres";
import { ctlCluster, type PgCluster } from "../host/postgres/cluster";
import {
  ADMIN_ROLE,
  ensureLoopbackHba,
  listenScript,
  mergeListen,
  parseState,
  psqlAsPostgres,
  RELOAD_SCRIPT,
  roleScript,
  stateScript,
} from "./pg-setup";

type PgConfig = Config["postgres"];

export type PgSetupResult =
  | { status: "configured"; cluster: PgCluster; postgres: PgConfig; done: string[] }
  | { status: "skipped" | "manual"; reason: string };

/**
 * Where Odoo containers reach this host: docker0's address for host.docker.internal (read with
 * `ip`, like doctor: os.networkInterfaces() hides docker0 while no container is on it), else
 * the configured IP.
 */
export async function containerAddresses(
  containerHost: string,
  docker0: () => Promise<string | null> = bridgeAddress,
): Promise<string[]> {
  if (containerHost !== "host.docker.internal") return /^[0-9.]+$|:/.test(containerHost) ? [containerHost] : [];
  const a = await docker0();
  return a ? [a] : [];
}

async function psql(c: PgCluster, script: string, redact: string[] = []): Promise<string> {
  return (await run(psqlAsPostgres(c, script, redact))).stdout;
}

/** The current config logs in as odooops' own role already: nothing about the role changes. */
async function currentWorks(current: PgConfig): Promise<boolean> {
  if (current.user !== ADMIN_ROLE || current.password === "") return false;
  const p = await probePostgres(current);
  return p.ok && p.createDb && p.createRole;
}

export interface PgSetupOptions {
  current: PgConfig;
  /** An existing role's password may be replaced (--yes, or the wizard's answer). */
  resetPassword: boolean;
  onStep(message: string): void;
}

export async function setupPostgres(cluster: PgCluster, opts: PgSetupOptions): Promise<PgSetupResult> {
  const done: string[] = [];
  const step = (m: string) => {
    done.push(m);
    opts.onStep(m);
  };
  if (!cluster.online) {
    await run(ctlCluster(cluster, "start"));
    step(
      `started PostgreSQL ${cluster.version}/${cluster.name} (pg_ctlcluster ${cluster.version} ${cluster.name} start)`,
    );
  }
  const state = parseState(await psql(cluster, stateScript(ADMIN_ROLE)));
  if (state.role?.superuser)
    return {
      status: "manual",
      reason: `role ${ADMIN_ROLE} exists and is a superuser; odooops will not change it: pass --pg-user and --pg-password-file`,
    };

  const keep = (await currentWorks({ ...opts.current, host: "127.0.0.1", port: cluster.port }))
    ? opts.current.password
    : null;
  let password = keep;
  if (password === null) {
    if (state.role && !opts.resetPassword)
      return {
        status: "manual",
        reason: `role ${ADMIN_ROLE} exists but the config has no working password for it: run init again with --yes (resets its password) or pass --pg-password-file`,
      };
    password = randomSecret(24);
  }
  const verifier = keep === null ? scramVerifier(password) : null;
  await psql(cluster, roleScript(ADMIN_ROLE, state.role !== null, verifier), verifier ? [verifier] : []);
  if (keep === null)
    step(
      `${state.role ? "reset the password of" : "created"} PostgreSQL role ${ADMIN_ROLE} (CREATEDB CREATEROLE, not a superuser)`,
    );

  const hba = ensureLoopbackHba(readFileSync(state.hbaFile, "utf8"));
  if (hba !== null) {
    writeHbaFileAtomic(state.hbaFile, hba);
    await psql(cluster, RELOAD_SCRIPT);
    step(`${state.hbaFile}: password logins (scram-sha-256) over 127.0.0.1; reloaded`);
  }
  const listen = mergeListen(state.listenAddresses, [
    "127.0.0.1",
    ...(await containerAddresses(opts.current.containerHost)),
  ]);
  if (listen !== null) {
    await psql(cluster, listenScript(listen));
    // listen_addresses only changes with a restart.
    await run(ctlCluster(cluster, "restart"));
    step(
      `listen_addresses = '${listen}' (was '${state.listenAddresses}'); restarted PostgreSQL ${cluster.version}/${cluster.name}`,
    );
  }
  return {
    status: "configured",
    cluster,
    postgres: {
      ...opts.current,
      host: "127.0.0.1",
      port: cluster.port,
      user: ADMIN_ROLE,
      password,
      hbaFile: state.hbaFile,
    },
    done,
  };
}
