/**
 * What env create asks of docker, tried for real with the configured image: a container with the
 * largest tier limits (clamped to this host, as env create does) starts, and a container on a
 * fresh env-like network reaches PostgreSQL where Odoo will (pg_isready: a server that answers,
 * even with "no pg_hba entry", is reachable; per-env pg_hba lines are written by env create).
 * Both containers and the network are labelled, removed at once, and never touch an env.
 */
import { randomBytes } from "node:crypto";
import { TierName, type Config } from "../config/schema";
import { clampToHost, type HostCapacity } from "../env/host-fit";
import { run } from "../exec/run";
import type { Command } from "../exec/command";
import { docker, dockerClient } from "../host/docker";
import { type Check, fail, fix, pass, skip, warn } from "./check";
import { firstLine } from "./docker-probe";

export const DOCTOR_LABEL = "odooops.doctor";

/** The highest CPUs and memory any tier gets on this host. */
export function largestLimits(config: Config, host: HostCapacity): { cpus: number; memoryMb: number } {
  const all = TierName.options.map((t) => clampToHost({ ...config.tiers[t] }, host, t).limits);
  return { cpus: Math.max(...all.map((l) => l.cpus)), memoryMb: Math.max(...all.map((l) => l.memoryMb)) };
}

export function limitsProbe(config: Config, limits: { cpus: number; memoryMb: number }, tag: string): Command {
  return docker(config.docker).run({
    image: config.odoo.image,
    rm: true,
    labels: { [DOCTOR_LABEL]: tag },
    cpus: limits.cpus,
    memoryMb: limits.memoryMb,
    entrypoint: "true",
  });
}

export function probeNetwork(config: Config, tag: string): string {
  return `${config.docker.namePrefix}-doctor-${tag}`;
}

/** pg_isready ships with the Odoo image (postgresql-client) and the stand-in. */
export function pgReachProbe(config: Config, network: string, tag: string): Command {
  const host = config.postgres.containerHost;
  return docker(config.docker).run({
    image: config.odoo.image,
    rm: true,
    labels: { [DOCTOR_LABEL]: tag },
    network,
    hostGateway: host === "host.docker.internal",
    entrypoint: "pg_isready",
    args: ["-h", host, "-p", String(config.postgres.port), "-t", "5"],
  });
}

async function imageReady(config: Config): Promise<string | null> {
  const info = await dockerClient(config.docker).inspectImage(config.odoo.image);
  return info ? null : `${config.odoo.image} is not present locally`;
}

export const dockerLimitsCheck: Check = {
  id: "docker-limits",
  title: "the Odoo image runs with the tier limits",
  async run(ctx) {
    if (!ctx.config) return skip("config invalid");
    if (!(await ctx.docker()).ok) return skip("docker not reachable (see the docker check)");
    const missing = await imageReady(ctx.config);
    if (missing) return warn(missing, fix([ctx.config.docker.binary, "pull", ctx.config.odoo.image]));
    const limits = largestLimits(ctx.config, ctx.host);
    const r = await run(limitsProbe(ctx.config, limits, randomBytes(4).toString("hex")), { nothrow: true });
    const what = `${ctx.config.odoo.image} with --cpus ${limits.cpus} --memory ${limits.memoryMb}m`;
    if (r.exitCode !== 0)
      return fail(
        `docker cannot run ${what}: ${firstLine(r.stderr) || `exit ${r.exitCode}`}`,
        "lower tiers.<tier>.cpus / memoryMb in the config, or check `docker info` (cgroup limits must be supported)",
      );
    return pass(`${what} starts`);
  },
};

export const pgContainerCheck: Check = {
  id: "pg-container",
  title: "PostgreSQL reachable from a container on an env network",
  async run(ctx) {
    if (!ctx.config) return skip("config invalid");
    if (!(await ctx.docker()).ok) return skip("docker not reachable (see the docker check)");
    if (await imageReady(ctx.config))
      return skip(`${ctx.config.odoo.image} is not present locally (see the docker-limits check)`);
    if (!(await ctx.postgres()).ok) return skip("PostgreSQL not reachable (see the postgres check)");
    const config = ctx.config;
    const tag = randomBytes(4).toString("hex");
    const net = probeNetwork(config, tag);
    const d = docker(config.docker);
    await run(d.networkCreate(net, { [DOCTOR_LABEL]: tag }));
    try {
      const r = await run(pgReachProbe(config, net, tag), { nothrow: true });
      const where = `${config.postgres.containerHost}:${config.postgres.port}`;
      if (r.exitCode === 0) return pass(`a container on a fresh bridge network reaches PostgreSQL at ${where}`);
      const why = firstLine(r.stdout) || firstLine(r.stderr) || `pg_isready exit ${r.exitCode}`;
      return fail(
        `a container on a fresh bridge network cannot reach PostgreSQL at ${where}: ${why}`,
        `PostgreSQL must listen on the address containers reach (listen_addresses, see pg-docker) and a firewall must let 172.16.0.0/12 and 192.168.0.0/16 reach port ${config.postgres.port}`,
      );
    } finally {
      await run(d.networkRm(net), { nothrow: true });
    }
  },
};
