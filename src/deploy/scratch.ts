/**
 * A throwaway database beside an env for addon tests (and rehearsals): its own role, database,
 * pg_hba line for the env's network, odoo.conf and data dir. Names derive from the job id, so a
 * rerun after a crash finds and drops what the interrupted attempt left before starting again.
 */
import { createHash, randomBytes } from "node:crypto";
import { chownSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CommandFailed } from "../errors";
import { envHost } from "../env/host";
import { odooConfFor, writeOdooConf, type DbLogin } from "../env/odoo-conf";
import { envResources } from "../env/resources";
import type { EnvRow } from "../env/service";
import { createDatabase, createRole, dropDatabase, dropRole, removeHbaEntry, setHbaEntry } from "../host/postgres";
import type { JobDeps } from "../jobs/define";

export interface Scratch {
  login: DbLogin;
  confFile: string;
  dataDir: string;
  network: string;
}

function scratchNames(env: EnvRow, deps: JobDeps, key: string) {
  const tag = createHash("sha256").update(key).digest("hex").slice(0, 10);
  const dir = join(envResources(env, deps).dir, `scratch-${tag}`);
  return { db: `odooops_scratch_${tag}`, role: `odooops_scratch_${tag}`, dir, confFile: join(dir, "odoo.conf"), dataDir: join(dir, "data") };
}

async function envSubnet(deps: JobDeps, network: string): Promise<string> {
  const info = await envHost(deps).dockerClient.inspectNetwork(network);
  const subnet = info?.IPAM.Config?.find((c) => c.Subnet && !c.Subnet.includes(":"))?.Subnet;
  if (!subnet) throw new CommandFailed(["docker", "network", "inspect", network], 1, "", `network ${network} is missing or has no IPv4 subnet`);
  return subnet;
}

async function dropScratch(deps: JobDeps, n: ReturnType<typeof scratchNames>): Promise<void> {
  await envHost(deps).withAdmin(async (sql) => {
    if (deps.config.postgres.hbaFile !== "") await removeHbaEntry(sql, deps.config.postgres.hbaFile, n.db);
    await dropDatabase(sql, n.db);
    await dropRole(sql, n.role);
  });
  rmSync(n.dir, { recursive: true, force: true });
}

/**
 * Runs `fn` with a throwaway role and a fresh empty database it owns (with `empty: false` the
 * database is left for `fn` to create, e.g. as a copy) and always removes both after.
 */
export async function withScratchDatabase<T>(deps: JobDeps, env: EnvRow, key: string, fn: (s: Scratch) => Promise<T>, opts: { empty?: boolean } = {}): Promise<T> {
  const n = scratchNames(env, deps, key);
  await dropScratch(deps, n);
  const network = envResources(env, deps).network;
  const login: DbLogin = { name: n.db, user: n.role, password: randomBytes(24).toString("base64url") };
  try {
    const subnet = await envSubnet(deps, network);
    await envHost(deps).withAdmin(async (sql) => {
      await createRole(sql, n.role, login.password);
      if (opts.empty !== false) await createDatabase(sql, n.db, n.role);
      if (deps.config.postgres.hbaFile !== "") {
        await setHbaEntry(sql, deps.config.postgres.hbaFile, { db: n.db, role: n.role, cidr: subnet, extraDbs: ["postgres"] });
      }
    });
    mkdirSync(n.dataDir, { recursive: true, mode: 0o750 });
    chownSync(n.dataDir, deps.config.odoo.uid, deps.config.odoo.gid);
    writeOdooConf(deps, n.confFile, odooConfFor(deps, env, login));
    return await fn({ login, confFile: n.confFile, dataDir: n.dataDir, network });
  } finally {
    await dropScratch(deps, n);
  }
}
