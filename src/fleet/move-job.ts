/**
 * `env move ENV --to HOST`, run: a durable job on the coordinator that chains the env's own jobs
 * on two hosts and waits for each. The env row is placed on the target host first (so the
 * target's lease carries it, src/fleet/mirror-apply.ts, and routing sends its jobs there), then
 * the target creates the env and restores the fresh backup from the shared S3 target, whose
 * restore swaps in the copy and health-checks it. Until `switch`, every failure undoes the copy
 * on the target and puts the row back as it was: the old host's container, vhost and database
 * are never touched before then, so the env keeps serving there. After `switch` nothing is
 * undone: the old copy is removed, and a failure to do so says what is left where.
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
import { applyMirroredChange } from "../env/state";
import { ENV_STATUSES } from "../env/vocabulary";
import {
  type AnyJobDef,
  defineJob,
  EnvJobTarget,
  type JobDef,
  type StepContext,
  stepOutput,
  storingStep,
} from "../jobs/define";
import { TERMINAL } from "../jobs/status";

/**
 * The env's columns a move changes (its host, and what the target's create and restore write:
 * status, serving container and ports, the database password the restore adopts), as they were
 * before it: written back when the move fails before `switch`.
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

/** The sub-jobs' own lock is the env id: the move locks a key of its own, or it would wait for them forever. */
export const moveLockKey = (envId: string) => `move:${envId}`;

/** The runner hands the coordinator's services to the jobs it runs there; a move runs nowhere else. */
function coordinatorOf(deps: Deps): CoordinatorDeps {
  if (!("jobs" in deps && "fleet" in deps)) throw new Error("env.move runs on the coordinator only");
  return deps as CoordinatorDeps;
}

const POLL_MS = 500;

/** Waits for a sub-job to end; throws with its error unless it succeeded. */
async function waitJob(ctx: Ctx, jobId: string, what: string): Promise<void> {
  const { jobs } = coordinatorOf(ctx.deps);
  for (;;) {
    const row = jobs.queue.row(jobId);
    if (TERMINAL.has(row.status)) {
      if (row.status !== "succeeded")
        throw new Error(`${what} (job ${jobId}) ${row.status}: ${row.error ?? "no error"}`);
      ctx.log(`${what}: job ${jobId} succeeded`);
      return;
    }
    if (ctx.signal.aborted) throw new Error(`cancelled while waiting for ${what} (job ${jobId})`);
    await Bun.sleep(POLL_MS);
  }
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

function sub(name: string, title: string, enqueue: (ctx: Ctx, c: CoordinatorDeps) => string) {
  return storingStep<MoveJobParams, z.infer<typeof queued>>(stepOutput(name, queued), {
    title,
    async run(ctx) {
      return { jobId: enqueue(ctx, coordinatorOf(ctx.deps)) };
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
  return c.jobs.enqueue(createEnvJob, { envId: ctx.params.envId, slug: ctx.params.slug }, null).id;
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
  return c.jobs.enqueue(restoreJob, params, null).id;
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
  waitFor("backup", "Backing up to the shared S3 target", queueBackup, (p) => `backup of ${p.slug} on ${p.fromName}`),
  {
    name: "place",
    title: "Placing the environment on the target host",
    async run(ctx: Ctx) {
      applyMirroredChange(ctx.deps.db, ctx.params.envId, { hostId: ctx.params.toHostId });
    },
    async undo(ctx: Ctx) {
      if (!beforeSwitch(ctx)) return;
      applyMirroredChange(ctx.deps.db, ctx.params.envId, ctx.params.before);
      ctx.log(`${ctx.params.slug} is placed on ${ctx.params.fromName} again, as before the move`);
    },
  },
  {
    ...queueCreate,
    async undo(ctx: Ctx) {
      if (!beforeSwitch(ctx)) return;
      // Whatever create and restore made on the target goes; the row still points there.
      const c = coordinatorOf(ctx.deps);
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
      const env = loadEnvById(ctx.deps.db, ctx.params.envId);
      if (env.hostId !== ctx.params.toHostId)
        throw new Error(`${env.slug} is no longer placed on ${ctx.params.toName}`);
      ctx.log(`${env.slug} now runs on ${ctx.params.toName}; ${ctx.params.dns}`);
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
];

export const moveEnvJob: JobDef<MoveJobParams> = defineJob<MoveJobParams>({
  kind: "env.move",
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
