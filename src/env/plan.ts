/**
 * What an environment gets from its tier: Odoo workers, memory limits per worker process, and
 * container limits. Pure, so `--dry-run` and tests see exactly what create would do.
 */
import Mustache from "mustache";
import type { TierConfig, TierName } from "../config/schema";
import odooConfTemplate from "../../templates/odoo.conf.mustache" with { type: "text" };

export interface ResourcePlan {
  workers: number;
  maxCronThreads: number;
  cpus: number;
  memoryMb: number;
  limitMemorySoft: number;
  limitMemoryHard: number;
  limitTimeCpu: number;
  limitTimeReal: number;
}

const MiB = 1024 * 1024;
/** Odoo 17's own defaults (`odoo/tools/config.py`: `--limit-memory-soft` 2048 MiB, `--limit-memory-hard` 2560 MiB). */
export const ODOO_DEFAULT_SOFT = 2048 * MiB;
export const ODOO_DEFAULT_HARD = 2560 * MiB;

/**
 * Odoo's memory limits are NOT resident memory: `odoo/service/server.py` compares
 * `limit_memory_soft` with `memory_info(process)`, which is `pmem.vms` (virtual size) on Linux,
 * and `set_limit_memory_hard()` calls `resource.setrlimit(RLIMIT_AS, (limit_memory_hard, …))`,
 * an address-space cap inherited by wkhtmltopdf. A Python worker maps far more than it touches
 * and wkhtmltopdf needs more than 1 GiB of address space, so limits derived from the container's
 * memory kill workers at birth and fail every PDF report. The container's `--memory` bounds RSS;
 * Odoo's limits only ever rise above its defaults: soft = max(2048 MiB, the container's memory
 * per process), hard = max(2560 MiB, soft × 1.25, Odoo's own ratio).
 */
function memoryLimits(memoryMb: number, processes: number): { soft: number; hard: number } {
  const share = Math.floor((memoryMb * 0.9) / processes) * MiB;
  const soft = Math.max(ODOO_DEFAULT_SOFT, share);
  return { soft, hard: Math.max(ODOO_DEFAULT_HARD, Math.floor(soft * 1.25)) };
}

export function resourcePlan(tierName: TierName, tier: TierConfig): ResourcePlan {
  // Production follows Odoo's sizing rule (2 × CPU + 1) with the tier's `workers` as the cap.
  const workers =
    tierName === "production" ? Math.min(2 * Math.max(1, Math.floor(tier.cpus)) + 1, tier.workers) : tier.workers;
  const limits = memoryLimits(tier.memoryMb, Math.max(1, workers) + tier.maxCronThreads);
  return {
    workers,
    maxCronThreads: tier.maxCronThreads,
    cpus: tier.cpus,
    memoryMb: tier.memoryMb,
    limitMemoryHard: limits.hard,
    limitMemorySoft: limits.soft,
    limitTimeCpu: tierName === "production" ? 600 : 1200,
    limitTimeReal: tierName === "production" ? 1200 : 2400,
  };
}

export interface OdooConfInput {
  slug: string;
  tier: TierName;
  dbHost: string;
  dbPort: number;
  dbName: string;
  dbUser: string;
  dbPassword: string;
  adminPasswd: string;
  demo: boolean;
  plan: ResourcePlan;
}

export function renderOdooConf(i: OdooConfInput): string {
  return Mustache.render(
    odooConfTemplate,
    { ...i, ...i.plan, withoutDemo: i.demo ? "False" : "all" },
    {},
    // odoo.conf is an ini file, not HTML: no escaping.
    { escape: (v: unknown) => String(v) },
  );
}
