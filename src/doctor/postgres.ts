/** PostgreSQL: the admin connection, pg_hba management, and reachability from containers. */
import { accessSync, constants, realpathSync } from "node:fs";
import { dirname } from "node:path";
import { run } from "../exec/run";
import { type Check, fail, fix, pass, skip, warn } from "./check";
import { odooopsArgv } from "./context";
import { dpkgStatus, interfaceAddress } from "./commands";
import { loginHint, startHint } from "./pg-hints";
import { detectCluster } from "./postgres-probe";
import { packageHint } from "./packages";

/** Odoo 17 refuses PostgreSQL older than 12. */
const MIN_PG = 12;

export function pgWhere(cfg: { host: string; port: number }): string {
  return cfg.host.startsWith("/") ? `${cfg.host}/.s.PGSQL.${cfg.port}` : `${cfg.host}:${cfg.port}`;
}

async function packageInstalled(pkg: string): Promise<boolean | null> {
  try {
    const r = await run(dpkgStatus(pkg), { nothrow: true });
    return r.stdout.includes("install ok installed");
  } catch {
    return null;
  }
}

export const postgresCheck: Check = {
  id: "postgres",
  title: "PostgreSQL reachable with the configured admin",
  async run(ctx) {
    if (!ctx.config) return skip("config invalid");
    const cfg = ctx.config.postgres;
    const p = await ctx.postgres();
    if (!p.ok) {
      const what = `cannot connect to ${pgWhere(cfg)} as ${cfg.user}: ${p.error}`;
      if (/authentication failed|no password|pg_hba\.conf|role .* does not exist/i.test(p.error))
        return fail(what, await loginHint(cfg, ctx.paths));
      if ((await packageInstalled("postgresql")) === false) {
        return fail(what, await packageHint("postgresql", "PostgreSQL"), ["postgresql"]);
      }
      return fail(what, await startHint(ctx.systemd, cfg.port));
    }
    if (!p.superuser && !(p.createRole && p.createDb)) {
      return fail(
        `connected as ${cfg.user}, but it may not create roles and databases`,
        `use a superuser, or ALTER ROLE ${cfg.user} CREATEROLE CREATEDB`,
      );
    }
    if (p.versionNum > 0 && p.versionNum < MIN_PG * 10000)
      return warn(
        `PostgreSQL ${p.version} is older than ${MIN_PG}`,
        `upgrade PostgreSQL to ${MIN_PG} or newer: Odoo 17 needs it`,
      );
    return pass(`PostgreSQL ${p.version} at ${pgWhere(cfg)} as ${cfg.user}${p.superuser ? " (superuser)" : ""}`);
  },
};

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return a === b;
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export const pgHbaCheck: Check = {
  id: "pg-hba",
  title: "odooops can manage pg_hba.conf",
  async run(ctx) {
    if (!ctx.config) return skip("config invalid");
    const file = ctx.config.postgres.hbaFile;
    if (file === "")
      return warn(
        "pg_hba.conf is not managed (postgres.hbaFile is empty)",
        "set postgres.hbaFile to the server's pg_hba.conf, so each env's database admits only its own containers",
      );
    const p = await ctx.postgres();
    if (!p.ok) return skip("PostgreSQL not reachable (see the postgres check)");
    if (p.hbaFile === null)
      return fail(
        `${ctx.config.postgres.user} may not read the server's hba_file setting`,
        "use a superuser as postgres.user (or GRANT pg_read_all_settings)",
      );
    if (!sameFile(file, p.hbaFile))
      return fail(
        `postgres.hbaFile is ${file} but the server reads ${p.hbaFile}`,
        `set postgres.hbaFile: ${p.hbaFile}`,
      );
    // Changes are written to a temp file beside it and renamed: the directory must be writable too.
    if (!writable(file) || !writable(dirname(file)))
      return fail(`cannot write ${file} or its directory`, "run odooops as root (the systemd unit does)");
    if (p.hbaErrors === null)
      return fail(
        `${ctx.config.postgres.user} may not read pg_hba_file_rules`,
        "use a superuser as postgres.user: the daemon validates pg_hba.conf before each reload",
      );
    if (p.hbaErrors.length > 0) {
      const detail = p.hbaErrors.map((e) => `line ${e.line}: ${e.error}`).join("; ");
      return fail(
        `PostgreSQL rejects ${file}: ${detail}`,
        "fix those lines: odooops does not edit a file the server rejects",
      );
    }
    return pass(`${file} is the server's pg_hba.conf, writable, no errors`);
  },
};

/** Whether `listen_addresses` includes `address` (or a wildcard covering it). */
export function listenCovers(listen: string, address: string): boolean {
  const items = listen
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const v6 = address.includes(":");
  return items.some((i) => i === "*" || i === address || (!v6 && i === "0.0.0.0") || (v6 && i === "::"));
}

/** docker0's IPv4 address (host-gateway), read with `ip`: it is there even while the bridge is down. */
export async function bridgeAddress(): Promise<string | null> {
  try {
    const r = await run(interfaceAddress("docker0"), { nothrow: true });
    const m = /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout);
    return r.exitCode === 0 && m ? m[1] : null;
  } catch {
    return null;
  }
}

export const pgDockerCheck: Check = {
  id: "pg-docker",
  title: "PostgreSQL listens where Odoo containers reach it",
  async run(ctx) {
    if (!ctx.config) return skip("config invalid");
    const p = await ctx.postgres();
    if (!p.ok) return skip("PostgreSQL not reachable (see the postgres check)");
    if (p.listenAddresses === null) return skip(`${ctx.config.postgres.user} may not read listen_addresses`);
    const host = ctx.config.postgres.containerHost;
    // host.docker.internal maps to host-gateway: the docker0 bridge address.
    const address = host === "host.docker.internal" ? await bridgeAddress() : host;
    if (!address)
      return warn(
        "no docker0 interface: cannot tell where containers reach PostgreSQL",
        "start docker (it creates docker0), then run doctor again",
      );
    if (listenCovers(p.listenAddresses, address))
      return pass(`listen_addresses '${p.listenAddresses}' covers ${address}${address === host ? "" : ` (${host})`}`);
    const debian = (await detectCluster())?.port === ctx.config.postgres.port;
    return fail(
      `PostgreSQL listens on '${p.listenAddresses}' only; Odoo containers reach it at ${address}${address === host ? "" : ` (${host})`}`,
      debian
        ? fix(odooopsArgv(ctx.paths, "init", "--yes"), `adds ${address} to listen_addresses and restarts PostgreSQL`)
        : `set listen_addresses = '${p.listenAddresses},${address}' in postgresql.conf and restart PostgreSQL`,
    );
  },
};
