/**
 * `env move ENV --to HOST`, run: a durable job on the coordinator that chains the env's own jobs
 * on two hosts and waits for each, from any host to any other. The fresh backup runs on the
 * env's host. The env row keeps naming that host until `switch`: the target is only named beside
 * it (`movingToHostId`, src/fleet/move-sides.ts), which sends the target's sub-jobs there and
 * their env in the target's lease, while the old host keeps owning the env (its other jobs,
 * backups, renewals, routing). The target creates the env and restores the backup, read from the
 * shared S3 target or, without one, relayed from the old host through the coordinator; that
 * restore swaps in the copy and health-checks it. Until `switch`, every
 * failure removes the copy on the target and puts the row back as it was: the old host's
 * container, vhost and database are never touched before then, so the env keeps serving there.
 * After `switch` nothing is undone: the old copy is removed by a job on the old host, and a
 * failure to do so says what is left where (the row keeps naming that host in `movedFromHostId`).
 */
import { eq } from "drizzle-orm";
import { z } from "zod";
import { backups } from "../db/backup.sql";
import { backupJob } from "../db/backup-job";
import { restoreJob } from "../db/restore-job";
import { newReplaceToken } from "../db/replace";
import { backupTransfer } from "../db/transfer";
import type { CoordinatorDeps, Deps } from "../deps";
import { createEnvJob } from "../env/create-job";
import { environments } from "../env/env.sql";
import { destroyEnvJob, DestroyParams } from "../env/lifecycle-jobs";
import { loadEnvById } from "../env/lookup";
import { applyMirroredChange, recordMoveDone, recordMoveTarget } from "../env/state";
import {
  type AnyJobDef,
  defineJob,
  EnvJobTarget,
  type JobDef,
  type StepContext,
  stepOutput,
  storingStep,
} from "../jobs/define";
import { queuedAfter } from "../jobs/lookup";
import { coordinatorOf, waitSubJob } from "../jobs/sub-job";
import { dropPending, switchToTarget } from "./move-pending";
import { MOVE_JOB_KIND, moveLockKey } from "../env/moving";
import { EnvBefore } from "./move-sides";

export const MoveJobParams = EnvJobTarget.extend({
  /** Host ids; `from` is the coordinator's own host for an env without one. */
  fromHostId: z.string().min(1),
  toHostId: z.string().min(1),
  fromName: z.string().min(1),
  toName: z.string().min(1),
  backupId: z.string().min(1),
  before: EnvBefore,
  dns: z.string(),
});
export type MoveJobParams = z.infer<typeof MoveJobParams>;
type Ctx = StepContext<MoveJobParams>;

const KIND = MOVE_JOB_KIND;

/** Waits for a sub-job to end; throws with its error unless it succeeded. */
async function waitJob(ctx: Ctx, jobId: string, what: string): Promise<void> {
  await waitSubJob(ctx, coordinatorOf(ctx.deps, KIND).jobs, jobId, what);
}

const queued = z.object({ jobId: z.string() });

/**
 * Removes an env's container, vhost, certificates, database, filestore and network on the host
 * the job is sent to, without marking the env destroyed: the env lives on, on its other host.
 * The env's destroy steps, less the final backup (the move made a fresh one).
 */
export const moveOutJob = defineJob<DestroyParams>({
  kind: "env.move-out",
  params: DestroyParams,
  lockKey: (p) => p.envId,
  target: (p) => p.slug,
  steps: destroyEnvJob.steps.filter((s) => s.name !== "final-backup"),
});

const removeParams = (p: MoveJobParams): DestroyParams => ({
  envId: p.envId,
  slug: p.slug,
  keepDatabase: false,
  finalBackupId: null,
  previousStatus: null,
});

const switched = stepOutput("switch", z.object({ at: z.string() }));

/** Undo only what comes before `switch`: after it, the env lives on the target. */
const beforeSwitch = (ctx: Ctx) => ctx.outputIfDone(switched) === undefined;

/** Which job a queueing step queues: its kind, on which host, and (optionally) with which params. */
interface SubJob {
  kind: string;
  host(p: MoveJobParams): string;
  match?(params: Record<string, unknown>, p: MoveJobParams): boolean;
}

/** The backup and the restore of this move are the ones of its backup id. */
const sameBackup = (params: Record<string, unknown>, p: MoveJobParams) => params.backupId === p.backupId;

/** By queueing step: what it queues, found again when the step runs again after a crash. */
const SUB_JOBS: Record<string, SubJob> = {
  "queue-backup": { kind: backupJob.kind, host: (p) => p.fromHostId, match: sameBackup },
  "queue-create": { kind: createEnvJob.kind, host: (p) => p.toHostId },
  "queue-restore": { kind: restoreJob.kind, host: (p) => p.toHostId, match: sameBackup },
  "queue-remove-old": { kind: moveOutJob.kind, host: (p) => p.fromHostId },
};

function sub(name: string, title: string, enqueue: (ctx: Ctx, c: CoordinatorDeps) => string) {
  const of = SUB_JOBS[name];
  if (!of) throw new Error(`queueing step ${name} does not say what it queues`);
  return storingStep<MoveJobParams, z.infer<typeof queued>>(stepOutput(name, queued), {
    title,
    async run(ctx) {
      const c = coordinatorOf(ctx.deps, KIND);
      // Resumed after a crash, which may have come between queueing the job and recording its id:
      // the job queued then is this step's, and a second one would run the same work twice.
      const earlier =
        ctx.attempt > 1
          ? queuedAfter(c.db, {
              after: ctx.jobId,
              kind: of.kind,
              lockKey: ctx.params.envId,
              hostId: of.host(ctx.params),
              match: (params) => of.match?.(params, ctx.params) ?? true,
            })
          : undefined;
      if (earlier) ctx.log(`job ${earlier} was queued before the restart: waiting for it, not queueing another`);
      return { jobId: earlier ?? enqueue(ctx, c) };
    },
  });
}

const queueBackup = sub("queue-backup", "Queueing a backup on the current host", (ctx, c) => {
  const { envId, slug, backupId } = ctx.params;
  const env = loadEnvById(c.db, envId);
  // Rerun after a crash: the row is there, and the backup of that id is queued again.
  c.db
    .insert(backups)
    .values({ id: backupId, envId, kind: "manual", status: "running", dbName: env.dbName })
    .onConflictDoNothing()
    .run();
  return c.jobs.enqueue(backupJob, { envId, slug, backupId }, env.createdBy).id;
});

const queueCreate = sub("queue-create", "Creating the environment on the target host", (ctx, c) => {
  const p = ctx.params;
  return c.jobs.enqueue(createEnvJob, { envId: p.envId, slug: p.slug }, null, { hostId: p.toHostId }).id;
});

const queueRestore = sub("queue-restore", "Restoring the backup on the target host", (ctx, c) => {
  const p = ctx.params;
  const row = c.db.select().from(backups).where(eq(backups.id, p.backupId)).get();
  if (!row) throw new Error(`backup ${p.backupId} vanished from state`);
  const transfer = backupTransfer(row, { from: p.fromHostId, to: p.toHostId, fromName: p.fromName, toName: p.toName });
  const params = {
    envId: p.envId,
    slug: p.slug,
    sourceEnvId: p.envId,
    sourceSlug: p.slug,
    token: newReplaceToken(),
    keepOld: false,
    anonymize: false,
    neutralize: false,
    rebase: false,
    preBackupId: null,
    backupId: p.backupId,
    ...(transfer ? { transfer } : {}),
  };
  return c.jobs.enqueue(restoreJob, params, null, { hostId: p.toHostId }).id;
});

const queueRemoveOld = sub("queue-remove-old", "Removing the environment from the old host", (ctx, c) => {
  return c.jobs.enqueue(moveOutJob, removeParams(ctx.params), null, { hostId: ctx.params.fromHostId }).id;
});

function waitFor(name: string, title: string, of: ReturnType<typeof sub>, what: (p: MoveJobParams) => string) {
  return {
    name,
    title,
    async run(ctx: Ctx) {
      await waitJob(ctx, ctx.output(of.output).jobId, what(ctx.params));
    },
  };
}

const steps = [
  queueBackup,
  waitFor("backup", "Backing up on the old host", queueBackup, (p) => `backup of ${p.slug} on ${p.fromName}`),
  {
    name: "place",
    title: "Naming the target host beside the current one",
    async run(ctx: Ctx) {
      // Only named: the row's host stays the old one, which keeps serving and owning the env.
      // What an earlier move's target reported never carries over to this one.
      dropPending(ctx.deps.db, ctx.params.envId);
      recordMoveTarget(ctx.deps.db, ctx.params.envId, ctx.params.toHostId);
      ctx.log(`${ctx.params.slug} stays on ${ctx.params.fromName} until its copy on ${ctx.params.toName} answers`);
    },
    async undo(ctx: Ctx) {
      if (!beforeSwitch(ctx)) return;
      // The target's copy is forgotten; a target that runs in this process (the coordinator's
      // own host) wrote its columns into the row itself: the old copy's come back.
      dropPending(ctx.deps.db, ctx.params.envId);
      applyMirroredChange(ctx.deps.db, ctx.params.envId, ctx.params.before);
      recordMoveTarget(ctx.deps.db, ctx.params.envId, null);
      ctx.log(`${ctx.params.slug} stays on ${ctx.params.fromName}, as before the move`);
    },
  },
  {
    ...queueCreate,
    async undo(ctx: Ctx) {
      if (!beforeSwitch(ctx)) return;
      // Whatever create and restore made on the target goes; the row still points there.
      const c = coordinatorOf(ctx.deps, KIND);
      const job = c.jobs.enqueue(moveOutJob, removeParams(ctx.params), null, { hostId: ctx.params.toHostId });
      await waitJob(ctx, job.id, `removal of the half-made copy on ${ctx.params.toName}`);
    },
  },
  waitFor("create", "Waiting for the target host's create", queueCreate, (p) => `create of ${p.slug} on ${p.toName}`),
  queueRestore,
  waitFor(
    "restore",
    "Waiting for the restore and health check on the target host",
    queueRestore,
    (p) => `restore of ${p.slug} on ${p.toName}`,
  ),
  storingStep<MoveJobParams, { at: string }>(switched, {
    title: "Switching the environment's host",
    async run(ctx) {
      const p = ctx.params;
      const env = loadEnvById(ctx.deps.db, p.envId);
      // A rerun after a crash finds the switch made.
      const made = env.hostId === p.toHostId && env.movedFromHostId === p.fromHostId;
      if (!made && env.movingToHostId !== p.toHostId) throw new Error(`${env.slug} is no longer moving to ${p.toName}`);
      if (!made) switchToTarget(ctx.deps.db, p.envId, { to: p.toHostId, from: p.fromHostId });
      ctx.log(`${env.slug} now runs on ${p.toName}; ${p.dns}`);
      return { at: new Date().toISOString() };
    },
  }),
  queueRemoveOld,
  waitFor(
    "remove-old",
    "Waiting for the old host's removal",
    queueRemoveOld,
    (p) => `removal of ${p.slug} on ${p.fromName}`,
  ),
  {
    name: "done",
    title: "Forgetting the old host",
    async run(ctx: Ctx) {
      recordMoveDone(ctx.deps.db, ctx.params.envId);
    },
  },
];

export const moveEnvJob: JobDef<MoveJobParams> = defineJob<MoveJobParams>({
  kind: KIND,
  params: MoveJobParams,
  lockKey: (p) => moveLockKey(p.envId),
  target: (p) => p.slug,
  steps,
  async succeeded(ctx) {
    const p = ctx.params;
    return { env: p.slug, from: p.fromName, to: p.toName, backup: p.backupId, dns: p.dns };
  },
});

export const MOVE_JOBS: AnyJobDef[] = [moveEnvJob, moveOutJob] as AnyJobDef[];

/** The env row's columns a failed move writes back (the params' `before`). */
export function envBefore(db: Deps["db"], envId: string): EnvBefore {
  const e = db.select().from(environments).where(eq(environments.id, envId)).get();
  if (!e) throw new Error(`environment ${envId} vanished from state`);
  return EnvBefore.parse(e);
}
