/**
 * `db clone SOURCE --to TARGET` across hosts: a durable job on the coordinator that chains two
 * jobs on two hosts and waits for each (as env move does, src/fleet/move-job.ts). The source's
 * host makes, checks and uploads the copy (export-job.ts); the target's host restores it like a
 * backup made elsewhere (restore-job.ts with a transfer: pre-change backup, replace, restart,
 * health); the coordinator then deletes the artifact from S3 — on failure too, so a copy of the
 * source never outlives the clone. Without S3 the artifact waits on the source's host and the
 * target fetches it through the coordinator (`via: "relay"`, plan.ts); it is then deleted from
 * the source's transfer directory instead (drop-job.ts, or in place on the coordinator's host). A failed export leaves the target untouched: its restore is
 * queued only after the export succeeded.
 */
import { z } from "zod";
import type { Deps } from "../../deps";
import { Invalid } from "../../errors";
import { recordOdooAdminPassword } from "../../env/state";
import { ODOO_ADMIN_LOGIN } from "../../env/odoo-admin";
import { defineJob, type StepContext, stepOutput, storingStep } from "../../jobs/define";
import { SEALED_KEY, sealedOf, withSealedSecrets } from "../../jobs/secrets";
import { TERMINAL } from "../../jobs/status";
import { coordinatorOf, waitSubJob } from "../../jobs/sub-job";
import { stepLogger } from "../../jobs/step-logger";
import { deleteBackup } from "../backup";
import { CloneJobParams } from "../clone-job";
import { restoreJob, type RestoreJobParams } from "../restore-job";
import { CloneExportResult, cloneExportJob, DEV_PASSWORD_SECRET } from "./export-job";
import { transferDropJob } from "./drop-job";
import { TransferPath, transferPrefix, transferTarget } from "./plan";
import { dropTransferDir, outgoingDir } from "./relay-dir";

export const CrossHostCloneParams = CloneJobParams.extend({
  fromHostId: z.string().min(1),
  toHostId: z.string().min(1),
  fromName: z.string().min(1),
  toName: z.string().min(1),
  transferId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/),
  /** Names the scratch copy on the source's host (the target's copy has `token`). */
  exportToken: z.string().regex(/^[a-z0-9]{8}$/),
  targetUrl: z.string().min(1),
  /** Chosen when queued (plan.ts); chains queued before the relay existed went through S3. */
  via: TransferPath.default("s3"),
});
export type CrossHostCloneParams = z.infer<typeof CrossHostCloneParams>;
type Ctx = StepContext<CrossHostCloneParams>;

/** The sub-jobs lock the source and the target env: the chain locks a key of its own, or it would wait for them forever. */
export const crossCloneLockKey = (envId: string) => `clone:${envId}`;

const KIND = "db.clone-across";

/** How often a failed chain looks whether its cancelled sub-jobs stopped. */
const POLL_MS = 500;
/** How long a failed chain waits for a cancelled sub-job to stop (its export: before deleting what it uploaded). */
const SUB_JOB_END_WAIT_MS = 5 * 60_000;

/** The PII check's verdict included: the export's lines come into the chain's, prefixed with its host. */
const waitJob = (ctx: Ctx, jobId: string, what: string, host: string) =>
  waitSubJob(ctx, coordinatorOf(ctx.deps, KIND).jobs, jobId, what, host);

const queued = z.object({ jobId: z.string() });
const queuedExport = stepOutput("queue-export", queued);
const queuedRestore = stepOutput("queue-restore", queued);

/** The artifact as the export reported it, and the copy's password sealed by this coordinator. */
const exported = stepOutput(
  "export",
  CloneExportResult.extend({ devPasswordEnc: z.string().nullable(), exportJobId: z.string() }),
);
const restored = stepOutput("restore", z.object({ result: z.record(z.string(), z.unknown()) }));

function transferLocation(deps: Pick<Deps, "config">, p: CrossHostCloneParams) {
  const s3 = deps.config.backups.s3;
  if (!s3)
    throw new Invalid("the coordinator has no S3 target configured (backups.s3): the transfer cannot be deleted");
  return { target: transferTarget(s3), prefix: transferPrefix(s3, p.sourceSlug, p.transferId) };
}

/**
 * A relayed pack, from the source's transfer directory: in place when the source is this
 * coordinator's host, else by a job on the source's host (waited for after success; after a
 * failure only queued, as the chain's own wait may be what was cancelled).
 */
async function dropRelayed(ctx: Ctx, wait: boolean): Promise<void> {
  const p = ctx.params;
  const c = coordinatorOf(ctx.deps, KIND);
  if (p.fromHostId === c.fleet.localHostId) {
    const dir = outgoingDir(ctx.deps.paths, p.sourceSlug, p.transferId);
    await dropTransferDir(dir);
    ctx.log(`transfer directory ${dir} on ${p.fromName} deleted`);
    return;
  }
  const job = c.jobs.enqueue(
    transferDropJob,
    { envId: p.sourceEnvId, slug: p.sourceSlug, transferId: p.transferId },
    null,
  );
  ctx.log(`deleting the copy on ${p.fromName}: job ${job.id}`);
  if (wait) await waitJob(ctx, job.id, `deleting the copy on ${p.fromName}`, p.fromName);
}

/** Whether sub-job `id` has ended, waiting for it up to SUB_JOB_END_WAIT_MS. */
async function subJobEnded(ctx: Ctx, id: string): Promise<boolean> {
  const { queue } = coordinatorOf(ctx.deps, KIND).jobs;
  const until = Date.now() + SUB_JOB_END_WAIT_MS;
  while (!TERMINAL.has(queue.row(id).status)) {
    if (Date.now() > until) return false;
    await Bun.sleep(POLL_MS);
  }
  return true;
}

/**
 * A cancel reaches a restore on another host at its next heartbeat: one that swapped the copy in
 * before then stays (a restore that ended cannot be undone). Said in the chain's log, so a
 * "cancelled" chain never hides that the target now holds the copy.
 */
async function reportRestoreOutcome(ctx: Ctx, restoreId: string | undefined): Promise<void> {
  if (!restoreId) return;
  if (!(await subJobEnded(ctx, restoreId))) {
    ctx.log(`warn: the restore into ${ctx.params.slug} (job ${restoreId}) has not ended yet: see that job`);
    return;
  }
  const { status } = coordinatorOf(ctx.deps, KIND).jobs.queue.row(restoreId);
  ctx.log(
    status === "succeeded"
      ? `the restore into ${ctx.params.slug} (job ${restoreId}) had finished before the chain stopped: ${ctx.params.slug} now holds the copy`
      : `the restore into ${ctx.params.slug} (job ${restoreId}) ${status}: ${ctx.params.slug} keeps its data`,
  );
}

/** Idempotent (a missing artifact is fine): after success, and after any failure. */
async function deleteTransfer(ctx: Ctx, wait: boolean): Promise<void> {
  if (ctx.params.via === "relay") return dropRelayed(ctx, wait);
  const loc = transferLocation(ctx.deps, ctx.params);
  const r = await deleteBackup({ s3: loc }, stepLogger(ctx));
  ctx.log(`transfer s3://${loc.target.bucket}/${loc.prefix}: ${r.s3Objects} object(s) deleted`);
}

export function restoreParamsOf(p: CrossHostCloneParams, transfer: CloneExportResult["transfer"]): RestoreJobParams {
  return {
    envId: p.envId,
    slug: p.slug,
    sourceEnvId: p.sourceEnvId,
    sourceSlug: p.sourceSlug,
    token: p.token,
    keepOld: p.keepOld,
    // Anonymized and checked on the source's host already: the target only neutralizes and rebases.
    anonymize: false,
    neutralize: p.neutralize,
    rebase: p.rebase,
    preBackupId: p.preBackupId,
    ...(p.onModuleMismatch ? { onModuleMismatch: p.onModuleMismatch } : {}),
    backupId: p.transferId,
    transfer,
  };
}

export const crossHostCloneJob = defineJob<CrossHostCloneParams>({
  kind: KIND,
  params: CrossHostCloneParams,
  lockKey: (p) => crossCloneLockKey(p.envId),
  target: (p) => p.slug,
  steps: [
    storingStep(queuedExport, {
      title: "Queueing the copy on the source's host",
      async run(ctx) {
        const p = ctx.params;
        const c = coordinatorOf(ctx.deps, KIND);
        // Locked on the source env: routed to its host, like its backups.
        const job = c.jobs.enqueue(
          cloneExportJob,
          {
            envId: p.sourceEnvId,
            slug: p.sourceSlug,
            token: p.exportToken,
            transferId: p.transferId,
            targetSlug: p.slug,
            targetUrl: p.targetUrl,
            anonymize: p.anonymize,
            method: p.method,
            ...(p.rules ? { rules: p.rules } : {}),
            via: p.via,
            sourceHostId: p.fromHostId,
          },
          null,
        );
        ctx.log(`copy of ${p.sourceSlug} queued on ${p.fromName}: job ${job.id}`);
        return { jobId: job.id };
      },
    }),
    storingStep(exported, {
      title: "Copying, checking and uploading on the source's host",
      async run(ctx) {
        const p = ctx.params;
        const jobId = ctx.output(queuedExport).jobId;
        const raw = await waitJob(ctx, jobId, `copy of ${p.sourceSlug} on ${p.fromName}`, p.fromName);
        const { [SEALED_KEY]: _sealed, ...open } = raw;
        const result = CloneExportResult.parse(open);
        // An agent's secrets come back sealed with this coordinator's box (src/fleet/mirror.ts).
        const devPasswordEnc = sealedOf(raw)?.[DEV_PASSWORD_SECRET] ?? null;
        if (p.anonymize && !devPasswordEnc) throw new Error(`the anonymized copy (job ${jobId}) returned no password`);
        ctx.log(
          `copy of ${p.sourceSlug} uploaded from ${p.fromName}: ${result.sizeBytes} bytes, database ${result.method}, filestore ${result.filestore}`,
        );
        return { ...result, devPasswordEnc, exportJobId: jobId };
      },
    }),
    storingStep(queuedRestore, {
      title: "Queueing the restore on the target's host",
      async run(ctx) {
        const p = ctx.params;
        const { transfer } = ctx.output(exported);
        const job = coordinatorOf(ctx.deps, KIND).jobs.enqueue(restoreJob, restoreParamsOf(p, transfer), null);
        ctx.log(`restore into ${p.slug} queued on ${p.toName}: job ${job.id}`);
        return { jobId: job.id };
      },
    }),
    storingStep(restored, {
      title: "Restoring, swapping in and health-checking on the target's host",
      async run(ctx) {
        const p = ctx.params;
        const raw = await waitJob(
          ctx,
          ctx.output(queuedRestore).jobId,
          `restore into ${p.slug} on ${p.toName}`,
          p.toName,
        );
        const { [SEALED_KEY]: _sealed, ...result } = raw;
        return { result };
      },
    }),
    {
      name: "delete-transfer",
      title: "Deleting the copy (from the shared S3 target, or the source's transfer directory)",
      async run(ctx: Ctx) {
        await deleteTransfer(ctx, true);
      },
    },
  ],
  async succeeded(ctx) {
    const p = ctx.params;
    const copy = ctx.output(exported);
    const result = {
      ...ctx.output(restored).result,
      method: copy.method,
      reason: copy.reason,
      filestore: copy.filestore,
      anonymized: p.anonymize,
      fromHost: p.fromName,
      toHost: p.toName,
      jobs: { export: copy.exportJobId, restore: ctx.output(queuedRestore).jobId },
    };
    if (!copy.devPasswordEnc) return result;
    // The copy serves now: its random password becomes the target's admin password, shown once.
    recordOdooAdminPassword(ctx.deps.db, p.envId, copy.devPasswordEnc);
    return withSealedSecrets({ ...result, adminLogin: ODOO_ADMIN_LOGIN }, { adminPassword: copy.devPasswordEnc });
  },
  async failed(ctx) {
    const { queue } = coordinatorOf(ctx.deps, KIND).jobs;
    // Cancelled (or broken) while a sub-job runs: stop it too; a restore undoes itself.
    for (const out of [queuedExport, queuedRestore]) {
      const id = ctx.outputIfDone(out)?.jobId;
      if (id && !TERMINAL.has(queue.row(id).status)) queue.cancel(id);
    }
    // An export still uploading would write after the delete: wait for it to end first.
    const exportId = ctx.outputIfDone(queuedExport)?.jobId;
    if (exportId && !(await subJobEnded(ctx, exportId))) {
      const p = ctx.params;
      const where =
        p.via === "relay"
          ? `${outgoingDir(ctx.deps.paths, p.sourceSlug, p.transferId)} on ${p.fromName}`
          : (({ target, prefix }) => `s3://${target.bucket}/${prefix}`)(transferLocation(ctx.deps, p));
      ctx.log(
        `warn: the copy (job ${exportId}) has not stopped yet; once it has, delete ${where} by hand if anything is left there`,
      );
      return;
    }
    // Whatever failed, the source's copy must not stay in the bucket, nor on the source's host.
    await deleteTransfer(ctx, false).catch((e: unknown) =>
      ctx.log(`warn: could not delete the transfer, delete it by hand: ${String(e)}`),
    );
    await reportRestoreOutcome(ctx, ctx.outputIfDone(queuedRestore)?.jobId);
  },
});
