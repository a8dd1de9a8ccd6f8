/**
 * The one writer of `environments` rows after their insert (`insertEnvironment` in create.ts):
 * every change of an env's state is a named transition here, so a status, its reason and the
 * columns that must change with it (ports, container, HTTP fallback) move together, and the
 * fleet work has one place to route them through.
 */
import { and, eq, ne, notInArray, sql } from "drizzle-orm";
import type { SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import { now } from "../state/columns";
import type { Db } from "../state/db";
import { type Environment, environments } from "./env.sql";
import type { EnvStatus } from "./vocabulary";

type Patch = SQLiteUpdateSetSource<typeof environments>;

function write(db: Db, envId: string, patch: Patch): Environment {
  const row = db
    .update(environments)
    .set({ ...patch, updatedAt: now() })
    .where(eq(environments.id, envId))
    .returning()
    .get();
  // Every caller loaded the env first: a missing row is a bug, not a user error.
  if (!row) throw new Error(`environment ${envId} vanished from state`);
  return row;
}

/** Where the env's Odoo answers: its serving container, published ports and release number. */
export interface Serving {
  containerName: string;
  httpPort: number;
  longpollPort: number;
  release: number;
}

/** Unpublished: no container, no ports (a failed create, a destroyed env). */
const UNPUBLISHED = { httpPort: null, longpollPort: null, containerName: null } satisfies Patch;

/**
 * Created, started or restarted and answering. The status reason is cleared, unless the env is
 * still served over HTTP: a restart does not enable HTTPS, so that reason is shown again.
 */
export function markActive(db: Db, envId: string): Environment {
  return write(db, envId, { status: "active", statusReason: sql`${environments.httpFallbackReason}` });
}

/**
 * Active over plain HTTP because HTTPS could not be enabled: `reason` says why and how to retry;
 * it is the status reason and stays in `httpFallbackReason` until a certificate is served
 * (`markServedOverHttps`), whatever the env goes through meanwhile.
 */
export function markServedOverHttp(db: Db, envId: string, reason: string): Environment {
  return write(db, envId, { status: "active", statusReason: reason, httpFallbackReason: reason });
}

/** A certificate is served: the HTTP fallback ends, and its reason stops being the status reason. */
export function markServedOverHttps(db: Db, envId: string): Environment {
  return write(db, envId, {
    httpFallbackReason: null,
    statusReason: sql`CASE WHEN ${environments.statusReason} = ${environments.httpFallbackReason} THEN NULL ELSE ${environments.statusReason} END`,
  });
}

/** The serving container was stopped (kept, with its ports, for `env start`). */
export function markStopped(db: Db, envId: string): Environment {
  return write(db, envId, { status: "stopped", statusReason: null });
}

/** Env create failed or was cancelled: its undo removed the container, so nothing is published. */
export function markCreateFailed(db: Db, envId: string, reason: string): Environment {
  return write(db, envId, { status: "failed", statusReason: reason, ...UNPUBLISHED });
}

/** A job left the env broken (`reason` says how to go on); what it publishes is left as it is. */
export function markFailed(db: Db, envId: string, reason: string): Environment {
  return write(db, envId, { status: "failed", statusReason: reason });
}

/** A destroy was asked for; the destroy job ends it with `markDestroyed`, `markFailed` or `markDestroyAborted`. */
export function markDestroying(db: Db, envId: string): Environment {
  return write(db, envId, { status: "destroying" });
}

/** A destroy stopped before removing anything: the env is back as it was, the reason says why. */
export function markDestroyAborted(db: Db, envId: string, previous: EnvStatus, reason: string): Environment {
  return write(db, envId, { status: previous, statusReason: reason });
}

/** Torn down; the row stays as history (its slug and branch are free again). */
export function markDestroyed(db: Db, envId: string, opts: { keptDatabase: boolean }): Environment {
  return write(db, envId, {
    status: "destroyed",
    statusReason: opts.keptDatabase ? "destroyed; database kept" : null,
    httpFallbackReason: null,
    destroyedAt: now(),
    ...UNPUBLISHED,
  });
}

/** A note on the env that leaves its status as it is (a restore that could not put the old database back). */
export function noteStatusReason(db: Db, envId: string, reason: string): Environment {
  return write(db, envId, { statusReason: reason });
}

/** The container that now serves the env (create's first container, a deploy's switch, a rollback's). */
export function recordServing(db: Db, envId: string, serving: Serving): Environment {
  return write(db, envId, serving);
}

/** The deployment whose release serves the env (null: none, as after an undone first deploy). */
export function recordCurrentDeployment(db: Db, envId: string, deploymentId: string | null): Environment {
  return write(db, envId, { currentDeploymentId: deploymentId });
}

/** New resource limits (a quota lowered them); the next container and odoo.conf use them. */
export function recordLimits(
  db: Db,
  envId: string,
  limits: { workers: number; cpus: number; memoryMb: number },
): Environment {
  return write(db, envId, { workers: limits.workers, cpus: String(limits.cpus), memoryMb: limits.memoryMb });
}

/** Odoo's `admin` password now in use (sealed). */
export function recordOdooAdminPassword(db: Db, envId: string, sealed: string): Environment {
  return write(db, envId, { odooAdminPasswordEnc: sealed });
}

/** The database role's password now in use (sealed). */
export function recordDbPassword(db: Db, envId: string, sealed: string): Environment {
  return write(db, envId, { dbPasswordEnc: sealed });
}

/** The env now expires at `expiresAt` (null: never); the 24 h warning may go out again. */
export function recordExpiry(db: Db, envId: string, expiresAt: string | null): Environment {
  return write(db, envId, { ttlExpiresAt: expiresAt, ttlWarnedAt: null });
}

/** The 24 h expiry warning went out at `at` (not again for this expiry). */
export function markExpiryWarned(db: Db, envId: string, at: Date): Environment {
  return write(db, envId, { ttlWarnedAt: at.toISOString() });
}

/** A host removed with --force: its live envs are dropped from management (their data stays there). */
export function markAbandonedOnHost(db: Db, hostId: string, reason: string): void {
  const ts = now();
  db.update(environments)
    .set({ status: "destroyed", destroyedAt: ts, updatedAt: ts, statusReason: reason })
    .where(and(eq(environments.hostId, hostId), ne(environments.status, "destroyed")))
    .run();
}

/*
 * An env move (src/fleet/move-job.ts): the env row's host changes only at the switch, after the
 * copy on the target answers; before it the target is only named beside it.
 */

/** The target of a move starts (`hostId`) or stops (null, the move was undone) taking the env over. */
export function recordMoveTarget(db: Db, envId: string, hostId: string | null): Environment {
  return write(db, envId, { movingToHostId: hostId });
}

/**
 * The switch: the env now lives on `to`, with the columns of the copy made there (`copy`, held
 * apart until now); `from` keeps its old copy until the move removes it.
 */
export function recordMoveSwitch(
  db: Db,
  envId: string,
  hosts: { to: string; from: string },
  copy: Patch = {},
): Environment {
  return write(db, envId, { ...copy, hostId: hosts.to, movingToHostId: null, movedFromHostId: hosts.from });
}

/** The old host's copy is gone: the move is over. */
export function recordMoveDone(db: Db, envId: string): Environment {
  return write(db, envId, { movedFromHostId: null });
}

/*
 * The fleet's state link (src/fleet/mirror*.ts): an agent runs its envs' jobs against a copy of
 * their rows, and the coordinator takes back what the jobs changed.
 */

/** On an agent: the coordinator's row of an env placed here, stored as it is (inserted or replaced by id). */
export function mirrorEnvironment(db: Db, row: Environment): void {
  const { id: _id, ...columns } = row;
  db.insert(environments).values(row).onConflictDoUpdate({ target: environments.id, set: columns }).run();
}

/**
 * On an agent: live rows of envs the coordinator no longer places on this host (moved, removed)
 * stop holding their ports and slug here. `keep`: the envs it does place here, and those a job
 * running here holds.
 */
export function retireUnmirrored(db: Db, hostId: string, keep: string[]): void {
  const ts = now();
  db.update(environments)
    .set({ status: "destroyed", destroyedAt: ts, updatedAt: ts, statusReason: "no longer placed on this host" })
    .where(
      and(eq(environments.hostId, hostId), ne(environments.status, "destroyed"), notInArray(environments.id, keep)),
    )
    .run();
}

/**
 * On the coordinator: the columns a job on the env's agent changed. src/fleet/mirror-apply.ts
 * refuses first what the agent has no authority to change (another host's env, its placement).
 */
export function applyMirroredChange(db: Db, envId: string, patch: Patch): Environment {
  return write(db, envId, patch);
}
