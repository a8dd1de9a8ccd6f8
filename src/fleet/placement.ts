/**
 * Where a new env goes: a pure planner over hosts (inventory, labels, draining, status) and what
 * is already placed on them. `--host` names one; `--label k=v` filters; otherwise the online,
 * non-draining host with the most free capacity for the tier's limits wins. Every refusal says
 * why each host was passed over.
 */
import { Conflict } from "../errors";
import type { HostInventory } from "./fleet.sql";
import type { Labels } from "./labels";

export interface Need {
  cpus: number;
  memoryMb: number;
  diskMb: number;
}

export interface Candidate {
  id: string;
  name: string;
  online: boolean;
  /** When it was last heard of, while offline (said in the refusal). */
  offlineSince?: string | null;
  draining: boolean;
  labels: Labels;
  inventory: HostInventory | null;
  /** The limits of the envs already placed there. */
  placed: Need;
}

export interface PlacementRequest {
  need: Need;
  host?: string;
  labels?: Labels;
  /**
   * Limits that came from the tier, not from the request: a machine smaller than them takes the
   * env with the limit lowered to its size (as a standalone host does, env/host-fit.ts), so they
   * count at most the machine's size here.
   */
  lowerable?: ("cpus" | "memoryMb")[];
}

export interface Placement {
  host: Candidate;
  /** The chosen host's inventory (a host that never reported one is never chosen). */
  inventory: HostInventory;
  /** Why this host, in words (shown by `env create --dry-run`). */
  why: string;
  /** The hosts that were passed over, each with its reason. */
  passedOver: string[];
}

/** The need as it would be on this machine: lowerable limits cut to the machine's size. */
function needOn(inv: HostInventory, req: PlacementRequest): Need {
  const lower = new Set(req.lowerable ?? []);
  return {
    cpus: lower.has("cpus") ? Math.min(req.need.cpus, inv.cores) : req.need.cpus,
    memoryMb: lower.has("memoryMb") ? Math.min(req.need.memoryMb, inv.memoryMb) : req.need.memoryMb,
    diskMb: req.need.diskMb,
  };
}

/** Free capacity after the placed envs and this one, as the smallest share left of the three resources. */
function headroom(
  c: Candidate,
  req: PlacementRequest,
): { fits: false; short: string[] } | { fits: true; score: number; inv: HostInventory } {
  const inv = c.inventory;
  if (!inv) return { fits: false, short: ["no inventory reported yet"] };
  const need = needOn(inv, req);
  const left = {
    cores: inv.cores - c.placed.cpus - need.cpus,
    memory: inv.memoryMb - c.placed.memoryMb - need.memoryMb,
    // Disk free is measured, so envs already there have used theirs: only the new one counts.
    disk: inv.diskFreeMb - need.diskMb,
  };
  const short: string[] = [];
  if (left.cores < 0) short.push(`${inv.cores - c.placed.cpus} of ${need.cpus} cores free`);
  if (left.memory < 0) short.push(`${inv.memoryMb - c.placed.memoryMb} of ${need.memoryMb} MB memory free`);
  if (left.disk < 0) short.push(`${inv.diskFreeMb} of ${need.diskMb} MB disk free`);
  if (short.length) return { fits: false, short };
  const score = Math.min(left.cores / inv.cores, left.memory / inv.memoryMb, left.disk / Math.max(inv.diskFreeMb, 1));
  return { fits: true, score, inv };
}

/** The chosen host and why, or Conflict naming, host by host, why none fits. */
export function placeEnv(hosts: Candidate[], req: PlacementRequest): Placement {
  const reasons: string[] = [];
  let pool = hosts;
  if (req.host !== undefined) {
    pool = hosts.filter((h) => h.name === req.host);
    if (!pool.length) throw new Conflict(`no host ${req.host}`);
  }
  const wanted = Object.entries(req.labels ?? {});
  let best: { c: Candidate; score: number; inv: HostInventory } | null = null;
  let fitting = 0;
  for (const c of pool) {
    const missing = wanted.filter(([k, v]) => c.labels[k] !== v).map(([k, v]) => `${k}=${v}`);
    if (missing.length) reasons.push(`${c.name}: no label ${missing.join(", ")}`);
    else if (!c.online) reasons.push(`${c.name}: offline${c.offlineSince ? ` since ${c.offlineSince}` : ""}`);
    else if (c.draining) reasons.push(`${c.name}: draining`);
    else {
      const h = headroom(c, req);
      if (!h.fits) reasons.push(`${c.name}: ${h.short.join(", ")}`);
      else {
        fitting++;
        if (!best || h.score > best.score || (h.score === best.score && c.name < best.c.name))
          best = { c, score: h.score, inv: h.inv };
      }
    }
  }
  if (best) {
    const chosenBy =
      req.host !== undefined
        ? "named by --host"
        : `the most free capacity of ${fitting} host(s) that fit${wanted.length ? ` with ${wanted.map(([k, v]) => `${k}=${v}`).join(", ")}` : ""}`;
    return {
      host: best.c,
      inventory: best.inv,
      why: `${chosenBy}; ${Math.floor(best.score * 100)}% of its tightest resource left after this env`,
      passedOver: reasons,
    };
  }
  throw new Conflict(
    `no host can take an env needing ${req.need.cpus} cores, ${req.need.memoryMb} MB memory, ${req.need.diskMb} MB disk: ${reasons.join("; ") || "no hosts"}`,
    { reasons },
  );
}
