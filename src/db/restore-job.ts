/**
 * `db restore` as a job, locked on the TARGET env: an optional backup of what is about to be
 * overwritten, the backup restored into a new database beside the live one and verified against
 * its manifest (the env keeps serving meanwhile), sanitized when it is another env's data, then
 * the shared stop → swap → start → health → drop-old sequence (replace-steps.ts).
 */
import { availableParallelism } from "node:os";
import { eq } from "drizzle-orm";
import { z } from "zod";
import type { Config } from "../config/schema";
import { Invalid, NotFound, Unavailable } from "../errors";
import { envDbLogin } from "../env/tenant-login";
import { defineJob, onEnv } from "../jobs/define";
import type { Deps } from "../deps";
import { stepLogger } from "../jobs/step-logger";
import { backups } from "./backup.sql";
import {
  cleanupRestore,
  describeSource,
  MANIFEST_KEY_PURPOSE,
  restoreBackup,
  type BackupSource,
  type ManifestTrust,
} from "./backup";
import type { BackupRow } from "./backup-job";
import {
  adoptCopyPassword,
  afterFailure,
  ensureFilestoreRoot,
  preBackupStep,
  preparedCopy,
  ReplaceParams,
  replaceOutcome,
  replaceSteps,
  sanitizeStep,
  undoPreparedCopy,
} from "./replace-steps";
import { BackupTransfer, transferSource } from "./transfer";
import { fetchRelayed, relayedDir } from "./clone-transfer/fetch";
import { dropTransferDir } from "./clone-transfer/relay-dir";

export const RestoreJobParams = ReplaceParams.extend({
  backupId: z.string().min(1),
  /** Set when the backup was made on another host: read from the shared S3 target (transfer.ts). */
  transfer: BackupTransfer.optional(),
});
export type RestoreJobParams = z.infer<typeof RestoreJobParams>;

/** Where a completed backup can be read from: its local copy first (no download), else S3. */
export function readableSource(config: Config, row: BackupRow): BackupSource {
  if (row.status !== "completed")
    throw new Invalid(`backup ${row.id} is ${row.status}; only a completed backup can be restored`);
  if (row.localPath) return { kind: "local", dir: row.localPath };
  if (row.s3Key && config.backups.s3) return { kind: "s3", target: config.backups.s3, prefix: row.s3Key };
  if (row.s3Key)
    throw new Invalid(`backup ${row.id} is only in S3 (${row.s3Key}) and no S3 target is configured (backups.s3)`);
  throw new Invalid(`backup ${row.id} has no copy left to restore from`);
}

/** A backup made on this host: the row the state link brought along names where it is. */
function localSource(deps: Pick<Deps, "db" | "config">, backupId: string): BackupSource {
  const row = deps.db.select().from(backups).where(eq(backups.id, backupId)).get();
  if (!row) throw new NotFound(`no backup ${backupId}`);
  return readableSource(deps.config, row);
}

/** Manifests verify with this host's key; unsigned ones only when the config says so. */
export function manifestTrust(deps: Pick<Deps, "box" | "config">): ManifestTrust {
  return { key: deps.box.derive(MANIFEST_KEY_PURPOSE), acceptUnsigned: deps.config.backups.acceptUnsignedManifests };
}

export const restoreJob = defineJob<RestoreJobParams>({
  kind: "db.restore",
  params: RestoreJobParams,
  ...onEnv,
  steps: [
    preBackupStep<RestoreJobParams>(),
    {
      name: "fetch",
      title: "Restoring the backup into a new database and verifying it",
      async run(ctx) {
        const { deps, params: p } = ctx;
        const relayed = p.transfer && "relay" in p.transfer ? p.transfer : null;
        const { env, n, cleanup } = preparedCopy(deps, p);
        // Leftovers of an interrupted attempt carry the same names: start clean.
        await cleanupRestore(cleanup);
        await ensureFilestoreRoot(deps, n);
        // A relayed pack is a copy of another host's data: it goes once read, or on failure.
        try {
          const source = relayed
            ? await fetchRelayed(deps, ctx, relayed)
            : p.transfer && "s3Key" in p.transfer
              ? transferSource(deps.config, p.transfer)
              : localSource(deps, p.backupId);
          const r = await restoreBackup({
            ...cleanup,
            source,
            owner: envDbLogin(deps, env),
            jobs: availableParallelism(),
            log: stepLogger(ctx, { backup: p.backupId }),
            signal: ctx.signal,
            filestoreOwner: { uid: deps.config.odoo.uid, gid: deps.config.odoo.gid },
            manifestTrust: p.transfer ? { ...manifestTrust(deps), expected: p.transfer.manifest } : manifestTrust(deps),
          }).catch((e: unknown) => {
            // Before the swap: say so, or "aborted" reads like a broken env.
            if (e instanceof Unavailable)
              throw new Unavailable(
                `restore of ${p.slug} from backup ${p.backupId}: ${e.message}; ${p.slug} is untouched and still serving`,
              );
            throw e;
          });
          ctx.log(
            `backup ${p.backupId} of ${p.sourceSlug} restored into ${n.newDb} from ${describeSource(source)} and verified (${r.checks.tableCount} tables, ${r.checks.modules} modules)`,
          );
        } finally {
          if (relayed) await dropTransferDir(relayedDir(deps, relayed));
        }
      },
      undo: undoPreparedCopy,
    },
    sanitizeStep<RestoreJobParams>(),
    ...replaceSteps<RestoreJobParams>(),
  ],
  async succeeded(ctx) {
    return adoptCopyPassword(ctx, {
      ...replaceOutcome(ctx),
      backupId: ctx.params.backupId,
    });
  },
  async failed(ctx, error, cancelled) {
    await afterFailure(ctx.deps, ctx.params, "restore", cancelled ? "cancelled" : error);
  },
});
