/**
 * At daemon start, before any job runs: the copies of env databases a crash left behind (see
 * db/copies/sweep.ts) are removed, logged and audited. A failure (PostgreSQL down) is logged and
 * does not keep the daemon from starting: the next scratch copy a job makes sweeps again.
 */
import type { CoordinatorDeps } from "../deps";
import { sweepCopies } from "../db/copies/sweep";
import { Log } from "../log";
import { errorText } from "../errors";

const log = Log.create("daemon");

export async function removeLeftoverCopies(deps: CoordinatorDeps): Promise<string[]> {
  try {
    const removed = await sweepCopies(deps, { atStart: true });
    for (const r of removed) log.warn(`removed a copy left by an interrupted job: ${r}`);
    if (removed.length > 0)
      deps.audit.record({ actor: "system", action: "copies.removed", target: null, ip: null, details: { removed } });
    return removed;
  } catch (e) {
    log.error("could not remove leftover copies", { error: errorText(e) });
    return [];
  }
}
