/**
 * Docker CLI commands as data, one small builder per command (Kamal style). Nothing here runs
 * anything; ./client.ts runs the few whose output odooops parses.
 */
import type { Command } from "../../exec/command";
import { Invalid } from "../../errors";
import {
  assertImage,
  assertName,
  containerFlags,
  labelArgs,
  labelFilters,
  type ContainerSpec,
  type RunSpec,
} from "./spec";

export interface DockerConfig {
  binary: string;
  /** `uid:gid` of containers whose spec names no user (the configured Odoo user); non-root either way. */
  runAs?: string;
}

export interface LogsOptions {
  follow?: boolean;
  /** Number of lines, or "all". */
  tail?: number | "all";
  timestamps?: boolean;
  /** Docker duration or timestamp (`10m`, RFC 3339). */
  since?: string;
}

export interface BuildSpec {
  context: string;
  tag: string;
  /** Dockerfile path; mutually exclusive with `dockerfileText` (sent on stdin as `-f -`). */
  file?: string;
  dockerfileText?: string;
  labels?: Record<string, string>;
  buildArgs?: Record<string, string>;
  pull?: boolean;
  noCache?: boolean;
}

export interface ExecOptions {
  user?: string;
  workdir?: string;
  env?: Record<string, string>;
  /** Like env, values masked in echoes. */
  secrets?: Record<string, string>;
}

export type Filters = Record<string, string | true>;

/** All builders bound to the configured docker binary: `docker(config.docker).run(spec)`. */
export function docker(cfg: DockerConfig) {
  const bin = cfg.binary;
  const cmd = (argv: string[], extra: Omit<Command, "argv"> = {}): Command => ({ argv: [bin, ...argv], ...extra });
  const name = (n: string) => assertName("container", n);

  function containerCommand(verb: string[], spec: ContainerSpec): Command {
    const built = containerFlags({ ...spec, user: spec.user ?? cfg.runAs });
    const argv = [...verb, ...built.args, assertImage(spec.image), ...(spec.args ?? [])];
    const c = cmd(argv);
    if (Object.keys(built.env).length > 0) c.env = built.env;
    if (built.redact.length > 0) c.redact = built.redact;
    return c;
  }

  return {
    run(spec: RunSpec): Command {
      const verb = ["run"];
      if (spec.detach) verb.push("--detach");
      if (spec.rm) verb.push("--rm");
      return containerCommand(verb, spec);
    },
    create: (spec: ContainerSpec): Command => containerCommand(["create"], spec),
    start: (n: string): Command => cmd(["start", name(n)]),
    /** SIGTERM, then SIGKILL after `timeoutSec`. */
    stop: (n: string, timeoutSec = 10): Command => cmd(["stop", "-t", String(Math.trunc(timeoutSec)), name(n)]),
    restart: (n: string, timeoutSec = 10): Command => cmd(["restart", "-t", String(Math.trunc(timeoutSec)), name(n)]),
    /**
     * Always `--volumes`: Odoo's image declares `VOLUME /mnt/extra-addons`, so every container
     * gets an anonymous volume that a plain `rm` leaves behind forever. Named volumes and bind
     * mounts are never touched by it.
     */
    rm: (n: string, opts: { force?: boolean } = {}): Command =>
      cmd(["rm", ...(opts.force ? ["--force"] : []), "--volumes", name(n)]),
    rename: (from: string, to: string): Command => cmd(["rename", name(from), name(to)]),
    logs(n: string, opts: LogsOptions = {}): Command {
      const argv = ["logs"];
      if (opts.follow) argv.push("--follow");
      if (opts.tail !== undefined) argv.push("--tail", String(opts.tail));
      if (opts.timestamps) argv.push("--timestamps");
      if (opts.since !== undefined) argv.push("--since", opts.since);
      return cmd([...argv, name(n)], opts.follow ? { timeoutMs: 24 * 3600_000 } : {});
    },
    exec(n: string, argv: string[], opts: ExecOptions = {}): Command {
      const flags: string[] = [];
      if (opts.user !== undefined) flags.push("--user", opts.user);
      if (opts.workdir !== undefined) flags.push("--workdir", opts.workdir);
      const env = { ...opts.env, ...opts.secrets };
      for (const k of Object.keys(env)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || k === "PATH" || k === "HOME" || k.startsWith("DOCKER_")) {
          throw new Invalid(`exec: unusable environment variable name ${JSON.stringify(k)}`);
        }
        flags.push("-e", k);
      }
      const c = cmd(["exec", ...flags, name(n), ...argv]);
      if (Object.keys(env).length > 0) c.env = env;
      const redact = Object.values(opts.secrets ?? {}).filter((v) => v.length > 0);
      if (redact.length > 0) c.redact = redact;
      return c;
    },
    /** JSON array on stdout; exit 1 + "No such container" when missing. */
    inspect: (...names: string[]): Command => cmd(["container", "inspect", ...names.map(name)]),
    /** IDs only (`-q`): parse with `docker inspect`, whose JSON is stable across versions. */
    ps: (opts: { labels?: Filters; all?: boolean } = {}): Command =>
      cmd(["ps", ...(opts.all === false ? [] : ["--all"]), "--quiet", "--no-trunc", ...labelFilters(opts.labels)]),
    networkCreate: (n: string, labels: Record<string, string> = {}): Command =>
      cmd(["network", "create", "--driver", "bridge", ...labelArgs(labels), assertName("network", n)]),
    networkRm: (...names: string[]): Command => cmd(["network", "rm", ...names.map((n) => assertName("network", n))]),
    networkInspect: (n: string): Command => cmd(["network", "inspect", assertName("network", n)]),
    networkLs: (labels: Filters = {}): Command =>
      cmd(["network", "ls", "--quiet", "--no-trunc", ...labelFilters(labels)]),
    networkConnect: (network: string, container: string): Command =>
      cmd(["network", "connect", assertName("network", network), name(container)]),
    volumeLs: (labels: Filters = {}): Command => cmd(["volume", "ls", "--quiet", ...labelFilters(labels)]),
    volumeRm: (...names: string[]): Command => cmd(["volume", "rm", ...names.map((n) => assertName("volume", n))]),
    build(spec: BuildSpec): Command {
      if (spec.file !== undefined && spec.dockerfileText !== undefined) {
        throw new Invalid("build: give either file or dockerfileText, not both");
      }
      const argv = ["build", "--tag", assertImage(spec.tag), ...labelArgs(spec.labels)];
      for (const [k, v] of Object.entries(spec.buildArgs ?? {})) argv.push("--build-arg", `${k}=${v}`);
      if (spec.pull) argv.push("--pull");
      if (spec.noCache) argv.push("--no-cache");
      if (spec.file !== undefined) argv.push("--file", spec.file);
      if (spec.dockerfileText !== undefined) argv.push("--file", "-");
      argv.push(spec.context);
      return cmd(argv, {
        timeoutMs: 60 * 60_000,
        ...(spec.dockerfileText !== undefined ? { stdin: spec.dockerfileText } : {}),
      });
    },
    imageInspect: (ref: string): Command => cmd(["image", "inspect", assertImage(ref)]),
    imageRm: (ref: string, opts: { force?: boolean } = {}): Command =>
      cmd(["image", "rm", ...(opts.force ? ["--force"] : []), assertImage(ref)]),
    imageLs: (labels: Filters = {}): Command => cmd(["image", "ls", "--quiet", "--no-trunc", ...labelFilters(labels)]),
  };
}

export type Docker = ReturnType<typeof docker>;
