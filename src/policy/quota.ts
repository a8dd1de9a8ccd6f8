/**
 * `resource_quotas`: what one environment of a tier may use. Limits are capped by the quota (a
 * tier default above it is lowered), an explicit request above it is refused, and storage — the
 * database plus the filestore, measured — above it blocks new deploys.
 */
import { formatBytes } from "../bytes";
import { Conflict, Invalid } from "../errors";
import type { PolicyTier, ResourceQuota } from "./schema";

const UNIT: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `512m`, `2g`, `1.5t`, `100000` (bytes) → bytes; binary units. */
export function sizeBytes(size: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmgt]?)$/i.exec(size);
  if (!m) throw new Invalid(`not a size: ${size}`);
  return Math.floor(Number(m[1]) * (UNIT[(m[2] ?? "").toLowerCase()] ?? 1));
}

export interface Limits {
  workers: number;
  cpus: number;
  memoryMb: number;
}

/** The quota's limits in the units of env rows (memory in MiB); absent keys are no limit. */
export function quotaLimits(quota: ResourceQuota | undefined): Partial<Limits> & { storageBytes?: number } {
  if (!quota) return {};
  return {
    ...(quota.workers !== undefined ? { workers: quota.workers } : {}),
    ...(quota.cpu !== undefined ? { cpus: quota.cpu } : {}),
    ...(quota.memory !== undefined ? { memoryMb: Math.floor(sizeBytes(quota.memory) / 1024 ** 2) } : {}),
    ...(quota.storage !== undefined ? { storageBytes: sizeBytes(quota.storage) } : {}),
  };
}

const KEY: Record<keyof Limits, string> = { workers: "workers", cpus: "cpu", memoryMb: "memory" };

/** Defaults lowered to the quota. */
export function capLimits(limits: Limits, quota: ResourceQuota | undefined): Limits {
  const q = quotaLimits(quota);
  return {
    workers: Math.min(limits.workers, q.workers ?? Infinity),
    cpus: Math.min(limits.cpus, q.cpus ?? Infinity),
    memoryMb: Math.min(limits.memoryMb, q.memoryMb ?? Infinity),
  };
}

/** Refuses explicitly requested limits above the quota, naming every one of them. */
export function checkRequested(requested: Partial<Limits>, quota: ResourceQuota | undefined, tier: PolicyTier): void {
  const q = quotaLimits(quota);
  const over = (Object.keys(KEY) as (keyof Limits)[]).flatMap((k) => {
    const want = requested[k];
    const max = q[k];
    return want !== undefined && max !== undefined && want > max
      ? [`${k} ${want} is above the quota of ${max} (resource_quotas.${tier}.${KEY[k]})`]
      : [];
  });
  if (over.length > 0) throw new Invalid(`the ${tier} tier's resource quota: ${over.join("; ")}`);
}

export interface StorageUse {
  databaseBytes: number | null;
  filestoreBytes: number | null;
  /** The host the sizes were measured on (an agent's env: its agent), named when one is unknown. */
  measuredOn?: string | null;
}

export interface StorageQuotaState {
  quotaBytes: number | null;
  /** The known part of the use: a size that is unknown counts as 0 here and is named in `unknown`. */
  usedBytes: number;
  exceeded: boolean;
  /** What could not be measured, or null: with a quota it means the quota is not checked (a deploy is refused). */
  unknown: string | null;
}

/** "database size", "filestore size", or both, not known (where), or null when both are known. */
function unknownSizes(use: StorageUse): string | null {
  const parts = [
    ...(use.databaseBytes === null ? ["database"] : []),
    ...(use.filestoreBytes === null ? ["filestore"] : []),
  ];
  if (parts.length === 0) return null;
  const what = parts.length === 2 ? "database and filestore sizes" : `${parts[0]} size`;
  return `${what} not known${use.measuredOn ? ` on host ${use.measuredOn}` : ""}`;
}

export function storageState(use: StorageUse, quota: ResourceQuota | undefined): StorageQuotaState {
  const quotaBytes = quotaLimits(quota).storageBytes ?? null;
  const usedBytes = (use.databaseBytes ?? 0) + (use.filestoreBytes ?? 0);
  return {
    quotaBytes,
    usedBytes,
    exceeded: quotaBytes !== null && usedBytes > quotaBytes,
    unknown: unknownSizes(use),
  };
}

/**
 * Throws when the env's storage is above its tier's quota: no new deploy until it shrinks or the
 * quota grows. A size that cannot be measured refuses too: a quota that passes whenever
 * PostgreSQL does not answer would be no quota.
 */
export function assertStorageWithinQuota(
  envSlug: string,
  tier: PolicyTier,
  use: StorageUse,
  quota: ResourceQuota | undefined,
): void {
  const s = storageState(use, quota);
  if (s.quotaBytes === null) return;
  const limit = `the ${tier} storage quota of ${formatBytes(s.quotaBytes)} (resource_quotas.${tier}.storage)`;
  if (s.exceeded)
    throw new Conflict(
      `environment ${envSlug} uses ${formatBytes(s.usedBytes)} (database ${formatBytes(use.databaseBytes ?? 0)} + filestore ${formatBytes(use.filestoreBytes ?? 0)}), ` +
        `above ${limit}: new deploys are blocked until it uses less or the quota is raised`,
    );
  if (s.unknown !== null)
    throw new Conflict(
      `environment ${envSlug}: ${limit} cannot be checked (${s.unknown}): new deploys are blocked until its size can be measured`,
    );
}
