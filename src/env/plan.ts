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

export function resourcePlan(tierName: TierName, tier: TierConfig): ResourcePlan {
  // Production follows Odoo's sizing rule (2 × CPU + 1) with the tier's `workers` as the cap.
  const workers = tierName === "production" ? Math.min(2 * Math.max(1, Math.floor(tier.cpus)) + 1, tier.workers) : tier.workers;
  const processes = Math.max(1, workers) + tier.maxCronThreads;
  // Odoo's limits apply per worker process; split the container's memory between them so the
  // kernel's OOM killer never beats Odoo's own recycling.
  const hard = Math.max(256, Math.floor((tier.memoryMb * 0.9) / processes)) * MiB;
  return {
    workers,
    maxCronThreads: tier.maxCronThreads,
    cpus: tier.cpus,
    memoryMb: tier.memoryMb,
    limitMemoryHard: hard,
    limitMemorySoft: Math.floor(hard * 0.8),
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
