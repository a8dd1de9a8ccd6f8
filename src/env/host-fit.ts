/**
 * Limits that fit the host: a tier's configured CPUs and memory are lowered to what this machine
 * has (docker refuses `--cpus` above its CPU count only when the container starts, after the
 * database and files exist), with a note saying so; an explicit request above the machine is
 * refused before anything is created. Pure: the host's capacity is passed in.
 */
import { availableParallelism, totalmem } from "node:os";
import type { TierName } from "../config/schema";
import { Invalid } from "../errors";
import type { Limits } from "../policy/quota";

export interface HostCapacity {
  cpus: number;
  memoryMb: number;
  /** The fleet host the env was placed on; absent: this machine. */
  name?: string;
}

/** This machine, as the env's container will see it (the daemon runs next to docker). */
export function hostCapacity(): HostCapacity {
  return { cpus: availableParallelism(), memoryMb: Math.floor(totalmem() / (1024 * 1024)) };
}

type HostKey = "cpus" | "memoryMb";
const KEYS: HostKey[] = ["cpus", "memoryMb"];
const FLAG: Record<HostKey, string> = { cpus: "--cpus", memoryMb: "--memory-mb" };
const unit = (k: HostKey, v: number) => (k === "cpus" ? `${v} CPU${v === 1 ? "" : "s"}` : `${v} MiB`);
const whose = (host: HostCapacity) => (host.name === undefined ? "this host's" : `host ${host.name}'s`);

/** Refuses explicit requests above the host, every one named, in one line. */
export function checkRequestedFitsHost(requested: Partial<Limits>, host: HostCapacity): void {
  const over = KEYS.flatMap((k) => {
    const want = requested[k];
    return want !== undefined && want > host[k]
      ? [`${k} ${want} (${FLAG[k]}) is above ${whose(host)} ${unit(k, host[k])}`]
      : [];
  });
  if (over.length > 0) throw new Invalid(over.join("; "));
}

/** Limits lowered to the host, and one note per lowered limit naming its config key. */
export function clampToHost(limits: Limits, host: HostCapacity, tier: TierName): { limits: Limits; notes: string[] } {
  const notes: string[] = [];
  const out = { ...limits };
  for (const k of KEYS) {
    if (limits[k] > host[k]) {
      notes.push(`tiers.${tier}.${k} ${limits[k]} is above ${whose(host)} ${unit(k, host[k])}: using ${host[k]}`);
      out[k] = host[k];
    }
  }
  return { limits: out, notes };
}
