/**
 * What the checks look at: paths, the loaded config (or why it failed to load), and probes of
 * docker, PostgreSQL and the ACME directory that several checks share, each run at most once.
 */
import { errorText } from "../errors";
import { existsSync } from "node:fs";
import { loadConfig } from "../config/load";
import { type Paths, resolvePaths } from "../config/paths";
import type { Config } from "../config/schema";
import { probeAcmeDirectory, type AcmeDirectoryProbe } from "./acme-probe";
import { probeDocker, type DockerProbe } from "./docker-probe";
import { systemdBooted } from "../host/systemd";
import { type HostCapacity, hostCapacity } from "../env/host-fit";
import { probePostgres, type PostgresProbe } from "./postgres-probe";

export interface DoctorContext {
  paths: Paths;
  now: Date;
  /** Null when the config did not load; `configError` says why. */
  config: Config | null;
  configError: string | null;
  /** The config file in use, or null (defaults only). */
  configFile: string | null;
  docker(): Promise<DockerProbe>;
  postgres(): Promise<PostgresProbe>;
  acmeDirectory(): Promise<AcmeDirectoryProbe>;
  /** systemd runs as PID 1: hints say `systemctl …` only then. */
  systemd: boolean;
  host: HostCapacity;
}

/** odooops itself as a hint runs it: with --root when the report is about a root of its own. */
export function odooopsArgv(paths: Paths, ...args: string[]): string[] {
  return ["odooops", ...(paths.root ? ["--root", paths.root] : []), ...args];
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | null = null;
  return () => (p ??= fn());
}

export interface ContextInput {
  paths: Paths;
  config: Config | null;
  configError?: string | null;
  configFile?: string | null;
  now?: Date;
  /** Defaults to this host (sd_booted). */
  systemd?: boolean;
  /** Defaults to this host's CPUs and memory. */
  host?: HostCapacity;
}

/** A context over a given config (unit tests build one directly). */
export function makeContext(input: ContextInput): DoctorContext {
  const { config } = input;
  return {
    paths: input.paths,
    now: input.now ?? new Date(),
    config,
    configError: input.configError ?? null,
    configFile: input.configFile ?? null,
    docker: once(() => probeDocker(config?.docker.binary ?? "docker")),
    postgres: once(
      (): Promise<PostgresProbe> =>
        config ? probePostgres(config.postgres) : Promise.resolve({ ok: false, error: "no config" }),
    ),
    acmeDirectory: once(
      (): Promise<AcmeDirectoryProbe> =>
        config ? probeAcmeDirectory(config.acme) : Promise.resolve({ ok: false, error: "no config" }),
    ),
    systemd: input.systemd ?? systemdBooted(),
    host: input.host ?? hostCapacity(),
  };
}

/** The context of this host: the root from `--root` or ODOOOPS_ROOT, config with env overrides. */
export function loadContext(opts: { root?: string; env: Record<string, string | undefined> }): DoctorContext {
  const paths = resolvePaths(opts.root ?? opts.env.ODOOOPS_ROOT);
  const configFile = [paths.configYaml, paths.configToml].find((f) => existsSync(f)) ?? null;
  let config: Config | null = null;
  let configError: string | null = null;
  try {
    config = loadConfig(paths, { env: opts.env });
  } catch (e) {
    configError = errorText(e);
  }
  return makeContext({ paths, config, configError, configFile });
}
