/**
 * What a container looks like, as data. `containerFlags` turns a spec into docker CLI flags; values
 * that could carry secrets (env) never appear in argv: `-e KEY` makes the docker CLI read the value
 * from its own environment, which the Command carries.
 *
 * Every container runs the code of an env or of a branch, which odooops does not trust: the
 * hardening flags are added here, unconditionally, so no caller can forget them. A spec can only
 * tighten them (its own limits, another non-root user), never drop them.
 */
import { Invalid } from "../../errors";

export interface Publish {
  hostPort: number;
  containerPort: number;
  /** Default 127.0.0.1: Odoo is only ever reached through nginx. */
  hostIp?: string;
}

export interface Mount {
  /** Absolute host path (bind mount) or a volume name. */
  source: string;
  target: string;
  readonly?: boolean;
}

export interface ContainerSpec {
  image: string;
  name?: string;
  labels?: Record<string, string>;
  /** Passed as `-e KEY`, value through the docker CLI's environment (never in argv). */
  env?: Record<string, string>;
  /** Like env, and the values are masked in every echo of the command and its output. */
  secrets?: Record<string, string>;
  publish?: Publish[];
  /** Default CONTAINER_DEFAULTS.cpus. */
  cpus?: number;
  /** Hard limit; swap is capped to the same value so the tier limit really is the limit. Default CONTAINER_DEFAULTS.memoryMb. */
  memoryMb?: number;
  /** `--pids-limit`: a fork bomb in an addon stays inside its container. Default CONTAINER_DEFAULTS.pidsLimit. */
  pidsLimit?: number;
  restart?: "no" | "always" | "unless-stopped" | "on-failure";
  network?: string;
  /** Adds `--add-host host.docker.internal:host-gateway` (see README: how containers reach PostgreSQL). */
  hostGateway?: boolean;
  addHosts?: Record<string, string>;
  mounts?: Mount[];
  /**
   * Numeric `uid:gid`, neither 0. Default CONTAINER_DEFAULTS.user (the official Odoo image's
   * `odoo`): it overrides whatever USER a repository's own Dockerfile set.
   */
  user?: string;
  workdir?: string;
  /** Replaces the image's ENTRYPOINT (`--entrypoint`). */
  entrypoint?: string;
  /** Arguments after the image (the entrypoint's/command's args). */
  args?: string[];
  /** json-file log rotation; without it docker logs grow without bound. */
  logMaxSize?: string;
  logMaxFiles?: number;
  stopTimeoutSec?: number;
}

export interface RunSpec extends ContainerSpec {
  detach?: boolean;
  /** `--rm`: throwaway containers (tests, migrations). */
  rm?: boolean;
}

/**
 * Bounds for containers whose spec sets none (one-shot runs outside an env's tier). The user is
 * the official Odoo image's `odoo` (101:101), which owns the filestores odooops creates.
 */
export const CONTAINER_DEFAULTS = { cpus: 1, memoryMb: 1024, pidsLimit: 1024, user: "101:101" } as const;

/**
 * Odoo needs no capability: it runs unprivileged, binds ports above 1024 and the image's
 * entrypoint only execs it (no chown, no gosu). So every capability is dropped and setuid
 * binaries inside the image cannot regain root (no-new-privileges).
 */
export const HARDENING_FLAGS = ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"] as const;

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const LABEL_KEY = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const IMAGE = /^[a-z0-9][a-z0-9._\/:@-]*$/i;
const HOST_IP = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\])$/i;
const MEMORY = /^\d+[kmg]?$/;
const NON_ROOT_USER = /^[1-9]\d{0,9}:[1-9]\d{0,9}$/;
/** Keys the docker CLI itself reads: passing them through its environment would change docker. */
const CLI_ENV = new Set(["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"]);

export function assertName(kind: string, name: string): string {
  if (!NAME.test(name)) throw new Invalid(`invalid ${kind} name: ${JSON.stringify(name)}`);
  return name;
}

export function assertImage(image: string): string {
  if (!IMAGE.test(image) || image.startsWith("-"))
    throw new Invalid(`invalid image reference: ${JSON.stringify(image)}`);
  return image;
}

function assertPort(p: number): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Invalid(`invalid port: ${p}`);
  return p;
}

export function labelArgs(labels: Record<string, string> = {}): string[] {
  return Object.entries(labels).flatMap(([k, v]) => {
    if (!LABEL_KEY.test(k)) throw new Invalid(`invalid label key: ${JSON.stringify(k)}`);
    if (v.includes("\n")) throw new Invalid(`label ${k} contains a newline`);
    return ["--label", `${k}=${v}`];
  });
}

/** `--filter label=k=v` (or `label=k` for presence) per entry. */
export function labelFilters(labels: Record<string, string | true> = {}): string[] {
  return Object.entries(labels).flatMap(([k, v]) => {
    if (!LABEL_KEY.test(k)) throw new Invalid(`invalid label key: ${JSON.stringify(k)}`);
    return ["--filter", v === true ? `label=${k}` : `label=${k}=${v}`];
  });
}

export interface BuiltArgs {
  args: string[];
  env: Record<string, string>;
  redact: string[];
}

/** Flags shared by `docker run` and `docker create` (everything before the image). */
export function containerFlags(spec: ContainerSpec): BuiltArgs {
  const args: string[] = [];
  const env: Record<string, string> = {};
  const redact: string[] = [];
  if (spec.name !== undefined) args.push("--name", assertName("container", spec.name));
  args.push(...labelArgs(spec.labels));
  const vars: [string, string, boolean][] = [
    ...Object.entries(spec.env ?? {}).map(([k, v]): [string, string, boolean] => [k, v, false]),
    ...Object.entries(spec.secrets ?? {}).map(([k, v]): [string, string, boolean] => [k, v, true]),
  ];
  for (const [k, v, secret] of vars) {
    if (!ENV_KEY.test(k)) throw new Invalid(`invalid environment variable name: ${JSON.stringify(k)}`);
    if (CLI_ENV.has(k) || k.startsWith("DOCKER_")) {
      args.push("-e", `${k}=${v}`);
    } else {
      args.push("-e", k);
      env[k] = v;
    }
    if (secret && v.length > 0) redact.push(v);
  }
  for (const p of spec.publish ?? []) {
    const ip = p.hostIp ?? "127.0.0.1";
    if (!HOST_IP.test(ip)) throw new Invalid(`invalid publish address: ${ip}`);
    args.push("--publish", `${ip}:${assertPort(p.hostPort)}:${assertPort(p.containerPort)}`);
  }
  const cpus = spec.cpus ?? CONTAINER_DEFAULTS.cpus;
  if (!(cpus > 0)) throw new Invalid(`invalid cpus: ${spec.cpus}`);
  args.push("--cpus", String(cpus));
  const memoryMb = spec.memoryMb ?? CONTAINER_DEFAULTS.memoryMb;
  if (!Number.isInteger(memoryMb) || memoryMb < 6) throw new Invalid(`invalid memoryMb: ${spec.memoryMb}`);
  args.push("--memory", `${memoryMb}m`, "--memory-swap", `${memoryMb}m`);
  const pids = spec.pidsLimit ?? CONTAINER_DEFAULTS.pidsLimit;
  if (!Number.isInteger(pids) || pids < 1) throw new Invalid(`invalid pidsLimit: ${spec.pidsLimit}`);
  args.push("--pids-limit", String(pids), ...HARDENING_FLAGS);
  if (spec.restart !== undefined) args.push("--restart", spec.restart);
  if (spec.stopTimeoutSec !== undefined) args.push("--stop-timeout", String(Math.trunc(spec.stopTimeoutSec)));
  if (spec.network !== undefined) args.push("--network", assertName("network", spec.network));
  if (spec.hostGateway) args.push("--add-host", "host.docker.internal:host-gateway");
  for (const [h, ip] of Object.entries(spec.addHosts ?? {})) {
    if (!/^[a-z0-9.-]+$/i.test(h) || !/^[0-9a-f.:]+$|^host-gateway$/i.test(ip)) {
      throw new Invalid(`invalid add-host entry: ${h}:${ip}`);
    }
    args.push("--add-host", `${h}:${ip}`);
  }
  for (const m of spec.mounts ?? []) args.push("--mount", mountArg(m));
  const user = spec.user ?? CONTAINER_DEFAULTS.user;
  if (!NON_ROOT_USER.test(user))
    throw new Invalid(`containers run as a numeric non-root uid:gid, not ${JSON.stringify(user)}`);
  args.push("--user", user);
  if (spec.workdir !== undefined) args.push("--workdir", spec.workdir);
  if (spec.entrypoint !== undefined) args.push("--entrypoint", spec.entrypoint);
  if (spec.logMaxSize !== undefined) {
    if (!MEMORY.test(spec.logMaxSize)) throw new Invalid(`invalid logMaxSize: ${spec.logMaxSize}`);
    args.push("--log-opt", `max-size=${spec.logMaxSize}`);
    if (spec.logMaxFiles !== undefined) args.push("--log-opt", `max-file=${Math.trunc(spec.logMaxFiles)}`);
  }
  return { args, env, redact };
}

/**
 * `--mount` instead of `-v`: it never silently creates a missing host directory (owned by root)
 * and a comma or colon in a path is rejected instead of being misparsed.
 */
export function mountArg(m: Mount): string {
  if (!m.target.startsWith("/")) throw new Invalid(`mount target must be absolute: ${m.target}`);
  for (const v of [m.source, m.target]) {
    if (/[,\n"]/.test(v) || v.length === 0) throw new Invalid(`invalid mount path: ${JSON.stringify(v)}`);
  }
  const bind = m.source.startsWith("/");
  if (!bind) assertName("volume", m.source);
  return `type=${bind ? "bind" : "volume"},source=${m.source},target=${m.target}${m.readonly ? ",readonly" : ""}`;
}
