/**
 * An env's move as `env get`, `env list` and the console show it (src/fleet/move-job.ts runs
 * it): under way, from its job; or over with the old copy left behind. Nothing once it is over.
 */
import { z } from "zod";
import { Conflict } from "../errors";
import { activeJobs } from "../jobs/lookup";
import type { Db } from "../state/db";

export const MOVE_JOB_KIND = "env.move";

/** The move job's lock: not the env id, which its sub-jobs on the env's hosts lock. */
export const moveLockKey = (envId: string) => `move:${envId}`;

const MoveNames = z.object({ envId: z.string(), fromName: z.string(), toName: z.string() });
type UnderWay = z.infer<typeof MoveNames> & { jobId: string; since: string };

/** The moves queued or running, by env id: a handful at most, so read in one query for a whole list. */
export function movesUnderWay(db: Db): Map<string, UnderWay> {
  const rows = activeJobs(db, { kinds: [MOVE_JOB_KIND] });
  const out = new Map<string, UnderWay>();
  for (const r of rows) {
    const names = MoveNames.safeParse(r.params);
    if (names.success) out.set(names.data.envId, { ...names.data, jobId: r.id, since: r.createdAt });
  }
  return out;
}

/**
 * "moving to H (job J, since T)" until the switch, "moved from F, removing the old copy (…)"
 * after it, "old copy left on F …" when the move ended without removing it; null otherwise.
 * `leftOn`: the name of the host in the env's `movedFromHostId` (null: none).
 */
export function moveNote(envId: string, leftOn: string | null, underWay: Map<string, UnderWay>): string | null {
  const move = underWay.get(envId);
  const of = (m: UnderWay) => `job ${m.jobId}, since ${m.since}`;
  if (move && leftOn === null) return `moving to ${move.toName} (${of(move)})`;
  if (move) return `moved from ${move.fromName}, removing the old copy there (${of(move)})`;
  if (leftOn === null) return null;
  return `old copy left on ${leftOn}: its env.move job could not remove it`;
}

/**
 * What would change the env's copy while it is being moved is refused: the move copies a backup
 * taken at its start, so a deploy, a power action or a destroy on the old copy would be lost on
 * the new one, or remove what the move is making. Nothing is changed.
 */
export function refuseWhileMoving(db: Db, env: { id: string; slug: string }, what: string): void {
  const move = movesUnderWay(db).get(env.id);
  if (move)
    throw new Conflict(
      `environment ${env.slug} is being moved from ${move.fromName} to ${move.toName} (job ${move.jobId}, since ${move.since}); ${what} when the move is over`,
    );
}
