/**
 * What an agent reports at each heartbeat: the machine (cores, memory, free disk under its root,
 * load), the versions of docker, PostgreSQL and nginx, and the odooops containers docker has.
 * A tool that does not answer is reported as null, never an error: a heartbeat must always go out.
 */
import { statfsSync } from "node:fs";
import { availableParallelism, loadavg, totalmem } from "node:os";
import type { Config } from "../config/schema";
import type { Paths } from "../config/paths";
import { type Command, command } from "../exec/command";
import { run } from "../exec/run";
import { pgAdmin } from "../host/postgres/connect";
import { VERSION } from "../version";
import type { HostContainer, HostInventory } from "./fleet.sql";

const QUICK = { timeoutMs: 10_000 };

export function dockerVersionCommand(binary: string): Command {
  return command([binary, "version", "--format", "{{.Server.Version}}"], QUICK);
}

/** odooops containers with their state and env label, one JSON object per line. */
export function dockerContainersCommand(binary: string, namePrefix: string): Command {
  return command(
    [
      binary,
      "ps",
      "--all",
      "--no-trunc",
      "--filter",
      "label=odooops.managed",
      "--filter",
      `name=^${namePrefix}-`,
      "--format",
      '{"name":{{json .Names}},"state":{{json .State}},"env":{{json (.Label "odooops.env")}}}',
    ],
    QUICK,
  );
}

export function nginxVersionCommand(binary: string): Command {
  return command([binary, "-v"], QUICK);
}

/** `nginx version: nginx/1.22.1` (on stderr) → `1.22.1`. */
export function parseNginxVersion(text: string): string | null {
  return /nginx\/([\w.-]+)/.exec(text)?.[1] ?? null;
}

export function parseContainers(stdout: string): HostContainer[] {
  const out: HostContainer[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.trim()) continue;
    const c = JSON.parse(line) as { name: string; state: string; env: string };
    out.push({ name: c.name, state: c.state, env: c.env === "" ? null : c.env });
  }
  return out;
}

async function firstLine(cmd: Command, stream: "stdout" | "stderr" = "stdout"): Promise<string | null> {
  try {
    const r = await run(cmd, { nothrow: true });
    return r.exitCode === 0 ? (r[stream].trim().split("\n")[0] ?? null) || null : null;
  } catch {
    return null;
  }
}

async function postgresVersion(config: Config): Promise<string | null> {
  const sql = pgAdmin(config.postgres, "odooops-inventory");
  try {
    const [row] = (await sql`SHOW server_version`) as { server_version: string }[];
    return row?.server_version.split(" ")[0] ?? null;
  } catch {
    return null;
  } finally {
    await sql.close();
  }
}

interface Versions {
  docker: string | null;
  postgres: string | null;
  nginx: string | null;
}

/** Versions change with upgrades only: asked again every 10 minutes, not at every heartbeat. */
const VERSIONS_TTL_MS = 10 * 60_000;
let versionsCache: { at: number; key: string; versions: Promise<Versions> } | null = null;

async function askVersions(config: Config): Promise<Versions> {
  const [docker, postgres, nginxText] = await Promise.all([
    firstLine(dockerVersionCommand(config.docker.binary)),
    postgresVersion(config),
    firstLine(nginxVersionCommand(config.nginx.binary), "stderr"),
  ]);
  return { docker, postgres, nginx: nginxText ? parseNginxVersion(nginxText) : null };
}

function versions(config: Config): Promise<Versions> {
  const key = JSON.stringify([config.docker.binary, config.nginx.binary, config.postgres.host, config.postgres.port]);
  if (!versionsCache || versionsCache.key !== key || Date.now() - versionsCache.at > VERSIONS_TTL_MS)
    versionsCache = { at: Date.now(), key, versions: askVersions(config) };
  return versionsCache.versions;
}

export async function collectInventory(config: Config, paths: Paths): Promise<HostInventory> {
  const fs = statfsSync(paths.dataDir);
  const { docker, postgres, nginx } = await versions(config);
  return {
    cores: availableParallelism(),
    memoryMb: Math.floor(totalmem() / 1024 ** 2),
    diskFreeMb: Math.floor((fs.bavail * fs.bsize) / 1024 ** 2),
    load: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    docker,
    postgres,
    nginx,
    agentVersion: VERSION,
  };
}

export async function collectContainers(config: Config): Promise<HostContainer[]> {
  const r = await run(dockerContainersCommand(config.docker.binary, config.docker.namePrefix), { nothrow: true });
  return r.exitCode === 0 ? parseContainers(r.stdout) : [];
}
