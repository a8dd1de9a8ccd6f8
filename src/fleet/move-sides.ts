/**
 * Who holds what of an env while it moves (src/fleet/move-job.ts). The row's `hostId` changes
 * only at the switch; until then the target is named in `movingToHostId`, and after it the host
 * left behind in `movedFromHostId` until its copy is removed. The state link (mirror-apply.ts)
 * asks these rules which host gets the env in its lease, with which columns, and whose reported
 * changes the coordinator takes.
 */
import { z } from "zod";
import type { Environment } from "../env/env.sql";
import { MOVE_JOB_KIND, moveLockKey } from "../env/moving";
import { ENV_STATUSES } from "../env/vocabulary";
import { newestJobOn } from "../jobs/queue";
import { TERMINAL } from "../jobs/status";
import type { Db } from "../state/db";

/**
 * The env's columns a move changes (its host, and what the target's create and restore write:
 * status, serving container and ports, the database password the restore adopts), as they were
 * before it: written back when the move fails before `switch`, and what the old host keeps
 * seeing of its own copy while the move runs.
 */
export const EnvBefore = z.object({
  hostId: z.string().nullable(),
  status: z.enum(ENV_STATUSES),
  statusReason: z.string().nullable(),
  httpFallbackReason: z.string().nullable(),
  httpPort: z.number().int().nullable(),
  longpollPort: z.number().int().nullable(),
  containerName: z.string().nullable(),
  release: z.number().int(),
  dbPasswordEnc: z.string(),
});
export type EnvBefore = z.infer<typeof EnvBefore>;

type MoveColumns = Pick<Environment, "hostId" | "movingToHostId" | "movedFromHostId">;

/**
 * A host's part in an env: `owner` runs it (before the switch the old host, after it the new
 * one), `target` is making its copy before the switch, `leaving` has the old copy after it.
 */
export type MoveSide = "owner" | "target" | "leaving";

export function moveSide(env: MoveColumns, hostId: string): MoveSide | null {
  if (env.hostId === hostId) return "owner";
  if (env.movingToHostId === hostId) return "target";
  if (env.movedFromHostId === hostId) return "leaving";
  return null;
}

/**
 * The host serves the env's old copy: the owner while a target is being prepared, and the host
 * left behind after the switch. It keeps seeing that copy's columns (ports, container, database
 * password), not the ones the target's jobs wrote into the row.
 */
export function holdsOldCopy(env: MoveColumns, hostId: string): boolean {
  const side = moveSide(env, hostId);
  return (side === "owner" && env.movingToHostId !== null) || side === "leaving";
}

/**
 * The host is making the env's new copy (the target, before the switch): what it reports of that
 * copy is held apart from the row (move-pending.ts) until the switch makes it the env's.
 */
export function makesNewCopy(env: MoveColumns, hostId: string): boolean {
  return moveSide(env, hostId) === "target";
}

/**
 * The coordinator takes a host's changes to the env from its owner and from the target
 * (create and restore report the new copy's columns, held apart until the switch makes them
 * the env's), never from the host it left: tearing the old copy down must not touch the row of the new one.
 */
export function takesEnvChanges(env: MoveColumns, hostId: string): boolean {
  const side = moveSide(env, hostId);
  return side === "owner" || side === "target";
}

const newestMove = (db: Db, envId: string) => newestJobOn(db, MOVE_JOB_KIND, moveLockKey(envId));

/** The old copy's columns, from the env's newest move job (null: it never moved). */
export function oldCopyColumns(db: Db, envId: string): EnvBefore | null {
  const parsed = z.object({ before: EnvBefore }).safeParse(newestMove(db, envId)?.params);
  return parsed.success ? parsed.data.before : null;
}

/**
 * Why another move cannot start now (null: it can): one queued or running, or an old copy a
 * finished one could not remove. A second move planned meanwhile would start from a stale host.
 */
export function moveUnderWay(db: Db, env: MoveColumns & { id: string; slug: string }): string | null {
  const job = newestMove(db, env.id);
  if (job && !TERMINAL.has(job.status)) return `${env.slug} is already being moved (job ${job.id})`;
  if (env.movingToHostId !== null) return `${env.slug} is already being moved`;
  if (env.movedFromHostId !== null)
    return `${env.slug}'s old copy on its previous host is not removed yet (see its last env.move job)`;
  return null;
}
