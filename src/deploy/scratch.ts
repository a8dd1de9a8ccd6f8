/**
 * A throwaway database beside an env for addon tests (and rehearsals): its own role, database,
 * pg_hba line for the env's network, odoo.conf and data dir. Names derive from the job id
 * (db/copies/names.ts), recorded before anything is created: a rerun after a crash finds and drops
 * what the interrupted attempt left, and the daemon's sweep at start removes it even when the job
 * never runs again.
 */
import { randomBytes } from "node:crypto";
import { chownSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pausePoint } from "../db/copies/pause";
import { SCRATCH_DIR_PREFIX, SCRATCH_PREFIX, scratchTag, type ScratchPurpose } from "../db/copies/names";
import { sweepCopies } from "../db/copies/sweep";
import { CommandFailed } from "../errors";
import { run } from "../exec/run";
import { envHost } from "../env/host";
import { odooConfFor, writeOdooConf, type DbLogin } from "../env/odoo-conf";
import { CONTAINER_CONF, CONTAINER_DATA, envLabels, envResources } from "../env/resources";
import { webContainerSpec } from "../env/container";
import { takenPorts } from "../env/lookup";
import { allocatePortPair } from "../env/ports";
import type { Environment } from "../env/env.sql";
import {
  createDatabase,
  createRole,
  dropDatabase,
  dropThrowawayRole,
  removeHbaEntry,
  setHbaEntry,
} from "../host/postgres";
import type { Deps } from "../deps";

export interface Scratch {
  login: DbLogin;
  confFile: string;
  dataDir: string;
  network: string;
}

export interface ScratchOwner {
  purpose: ScratchPurpose;
  jobId: string;
  log(line: string): void;
}

function scratchNames(env: Environment, deps: Deps, owner: ScratchOwner) {
  const tag = scratchTag(owner.purpose, owner.jobId);
  const dir = join(envResources(env, deps).dir, `${SCRATCH_DIR_PREFIX}${tag}`);
  return {
    db: `${SCRATCH_PREFIX}${tag}`,
    role: `${SCRATCH_PREFIX}${tag}`,
    dir,
    confFile: join(dir, "odoo.conf"),
    dataDir: join(dir, "data"),
  };
}

async function envSubnet(deps: Deps, network: string): Promise<string> {
  const info = await envHost(deps).dockerClient.inspectNetwork(network);
  const subnet = info?.IPAM.Config?.find((c) => c.Subnet && !c.Subnet.includes(":"))?.Subnet;
  if (!subnet)
    throw new CommandFailed(
      ["docker", "network", "inspect", network],
      1,
      "",
      `network ${network} is missing or has no IPv4 subnet`,
    );
  return subnet;
}

/** Database first (ending the sessions still writing it, a killed daemon's copy included), then the role. */
async function dropScratch(deps: Deps, n: ReturnType<typeof scratchNames>, after: boolean): Promise<void> {
  await envHost(deps).withAdmin(async (sql) => {
    if (deps.config.postgres.hbaFile !== "") await removeHbaEntry(sql, deps.config.postgres.hbaFile, n.db);
    await dropDatabase(sql, n.db);
    if (after) await pausePoint("scratch:during-drop");
    await dropThrowawayRole(sql, n.role);
  });
  rmSync(n.dir, { recursive: true, force: true });
}

/**
 * Runs `fn` with a throwaway role and a fresh empty database it owns (with `empty: false` the
 * database is left for `fn` to create, e.g. as a copy) and always removes both after. Copies other
 * jobs left (a crash) are swept first. `network`: the docker network the copy's container joins
 * (default the env's; a DR test on another host brings its own).
 */
export async function withScratchDatabase<T>(
  deps: Deps,
  env: Environment,
  owner: ScratchOwner,
  fn: (s: Scratch) => Promise<T>,
  opts: { empty?: boolean; network?: string } = {},
): Promise<T> {
  const n = scratchNames(env, deps, owner);
  const network = opts.network ?? envResources(env, deps).network;
  const login: DbLogin = { name: n.db, user: n.role, password: randomBytes(24).toString("base64url") };
  try {
    // Inside the try: when clearing an interrupted attempt fails half-way, the finally tries again.
    for (const r of await sweepCopies(deps, { atStart: false })) owner.log(`removed a leftover copy: ${r}`);
    await dropScratch(deps, n, false);
    await pausePoint("scratch:before-role");
    const subnet = await envSubnet(deps, network);
    await envHost(deps).withAdmin(async (sql) => {
      await createRole(sql, n.role, login.password);
      await pausePoint("scratch:after-role");
      if (opts.empty !== false) await createDatabase(sql, n.db, n.role);
      if (deps.config.postgres.hbaFile !== "") {
        await setHbaEntry(sql, deps.config.postgres.hbaFile, {
          db: n.db,
          role: n.role,
          cidr: subnet,
          extraDbs: ["postgres"],
        });
      }
    });
    mkdirSync(n.dataDir, { recursive: true, mode: 0o750 });
    chownSync(n.dataDir, deps.config.odoo.uid, deps.config.odoo.gid);
    writeOdooConf(deps, n.confFile, odooConfFor(deps, env, login));
    return await fn({ login, confFile: n.confFile, dataDir: n.dataDir, network });
  } finally {
    await dropScratch(deps, n, true);
  }
}

/**
 * The release's image booted on a scratch copy (its data dir and odoo.conf), beside the env on
 * a free port pair that is neither taken nor the env's own: what a deploy's rehearsal and a DR
 * test check health on. The caller removes the container.
 */
export async function bootOnScratch(
  deps: Deps,
  env: Environment,
  scratch: Scratch,
  name: string,
  image: string,
): Promise<{ http: number; longpoll: number }> {
  const host = envHost(deps);
  const taken = takenPorts(deps.db, env.id);
  for (const p of [env.httpPort, env.longpollPort]) if (p) taken.add(p);
  const [http, longpoll] = await allocatePortPair(deps.config.ports, taken);
  const spec = webContainerSpec(deps, env, name, { http, longpoll }, image);
  await run(host.docker.rm(name, { force: true }), { nothrow: true });
  await run(
    host.docker.run({
      ...spec,
      restart: "no",
      network: scratch.network,
      labels: envLabels(env, "init"),
      mounts: [
        { source: scratch.dataDir, target: CONTAINER_DATA },
        { source: scratch.confFile, target: CONTAINER_CONF, readonly: true },
      ],
    }),
  );
  return { http, longpoll };
}
