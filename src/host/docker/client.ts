/**
 * The few docker calls whose output odooops reads. Runs the builders of ./commands.ts through the
 * one executor and parses `docker inspect` JSON (stable across engine versions, unlike `ps --format`).
 */
import { CommandFailed, Conflict } from "../../errors";
import { run } from "../../exec/run";
import type { Command } from "../../exec/command";
import { docker, type DockerConfig, type Filters } from "./commands";

/** The fields of `docker container inspect` odooops uses. */
export interface ContainerInfo {
  Id: string;
  /** With a leading slash, as docker reports it. */
  Name: string;
  Created: string;
  /** Restarts by the restart policy: a container that crashes on boot comes back again and again. */
  RestartCount?: number;
  State: {
    Status: string;
    Running: boolean;
    ExitCode: number;
    StartedAt: string;
    FinishedAt: string;
    Health?: { Status: string };
  };
  Config: { Image: string; Labels: Record<string, string> | null };
  NetworkSettings: {
    Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null;
    Networks: Record<string, { IPAddress: string }> | null;
  };
}

export interface NetworkInfo {
  Id: string;
  Name: string;
  Labels: Record<string, string> | null;
  IPAM: { Config: { Subnet?: string; Gateway?: string }[] | null };
}

export interface ImageInfo {
  Id: string;
  RepoTags: string[] | null;
  Created: string;
  Size: number;
  Config: { Labels: Record<string, string> | null };
}

const MISSING = /no such (container|object|network|image|volume)|network \S+ not found/i;

/** Runs an inspect-style command; null when docker says the object does not exist. */
async function inspectOne<T>(c: Command): Promise<T | null> {
  const r = await run(c, { nothrow: true });
  if (r.exitCode !== 0) {
    if (MISSING.test(r.stderr)) return null;
    throw new CommandFailed(c.argv, r.exitCode, r.stderr.trim());
  }
  const parsed = JSON.parse(r.stdout) as T[];
  return parsed[0] ?? null;
}

function lines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

export function dockerClient(cfg: DockerConfig) {
  const d = docker(cfg);
  return {
    inspectContainer: (name: string) => inspectOne<ContainerInfo>(d.inspect(name)),
    inspectNetwork: (name: string) => inspectOne<NetworkInfo>(d.networkInspect(name)),
    inspectImage: (ref: string) => inspectOne<ImageInfo>(d.imageInspect(ref)),

    /** Containers (running or not) carrying `label` (=value when given). */
    async listByLabel(label: string, value?: string): Promise<ContainerInfo[]> {
      const filters: Filters = { [label]: value ?? true };
      const ids = lines((await run(d.ps({ labels: filters }))).stdout);
      if (ids.length === 0) return [];
      // A container removed between ps and inspect is simply not listed.
      const r = await run(d.inspect(...ids), { nothrow: true });
      return r.stdout.trim() ? (JSON.parse(r.stdout) as ContainerInfo[]) : [];
    },
    async networksByLabel(label: string, value?: string): Promise<string[]> {
      return lines((await run(d.networkLs({ [label]: value ?? true }))).stdout);
    },
    async volumesByLabel(label: string, value?: string): Promise<string[]> {
      return lines((await run(d.volumeLs({ [label]: value ?? true }))).stdout);
    },

    /**
     * Creates the network unless it exists; refuses one odooops did not label (not ours to reuse).
     * Create first, inspect after: the usual path is two docker calls, not three.
     */
    async ensureNetwork(name: string, labels: Record<string, string>): Promise<NetworkInfo> {
      const created = await run(d.networkCreate(name, labels), { nothrow: true });
      if (created.exitCode !== 0 && !/already exists/i.test(created.stderr)) {
        throw new CommandFailed(d.networkCreate(name, labels).argv, created.exitCode, created.stderr.trim());
      }
      const info = await inspectOne<NetworkInfo>(d.networkInspect(name));
      if (!info) throw new CommandFailed(d.networkInspect(name).argv, 1, "network vanished after create");
      for (const [k, v] of Object.entries(labels)) {
        if (info.Labels?.[k] !== v)
          throw new Conflict(`network ${name} exists but is not labelled ${k}=${v}: not odooops' to reuse`);
      }
      return info;
    },

    /** Host port published for `containerPort/tcp`, or null. */
    publishedPort(info: ContainerInfo, containerPort: number): number | null {
      const b = info.NetworkSettings.Ports?.[`${containerPort}/tcp`]?.[0];
      return b ? Number(b.HostPort) : null;
    },
  };
}

export type DockerClient = ReturnType<typeof dockerClient>;
