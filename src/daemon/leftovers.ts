/**
 * At daemon start on every host (the coordinator's and each agent's), before any job runs: the
 * copies of env databases a crash left behind (see db/copies/sweep.ts) and what a killed DR test
 * left (dr/leftovers.ts: also a test of another host's env, which has no env row here) are
 * removed, logged and audited where there is an audit log. A failure (PostgreSQL or docker down)
 * is logged and does not keep the daemon from starting: the next scratch copy a job makes sweeps
 * again.
 */
import type { CoordinatorDeps, Deps } from "../deps";
import { sweepCopies } from "../db/copies/sweep";
import { sweepDrTestLeftovers } from "../dr/leftovers";
import { Log } from "../log";
import { errorText } from "../errors";

const log = Log.create("daemon");

export async function removeLeftoverCopies(
  deps: Pick<Deps, "db" | "config" | "paths"> & Partial<Pick<CoordinatorDeps, "audit">>,
): Promise<string[]> {
  const removed: string[] = [];
  for (const [what, sweep] of [
    ["copies", () => sweepCopies(deps, { atStart: true })],
    ["DR test leftovers", () => sweepDrTestLeftovers(deps)],
  ] as const) {
    try {
      removed.push(...(await sweep()));
    } catch (e) {
      log.error(`could not remove leftover ${what}`, { error: errorText(e) });
    }
  }
  for (const r of removed) log.warn(`removed what an interrupted job left: ${r}`);
  if (removed.length > 0)
    deps.audit?.record({ actor: "system", action: "copies.removed", target: null, ip: null, details: { removed } });
  return removed;
}
