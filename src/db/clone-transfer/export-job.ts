/**
 * The source half of a clone across hosts, run on the SOURCE env's host (locked on the source,
 * as its backups are): the copy is made exactly as a same-host clone makes it — into a scratch
 * database beside the source's, anonymized while copied, with a filestore of placeholders — and,
 * when anonymized, the PII check runs here, against the source's own values, before anything
 * leaves the host. Only then is the copy packed like a backup (dump + filestore tar + manifest)
 * into the shared S3 target's transfer prefix; the scratch database is dropped either way.
 * The target's half is an ordinary restore of that artifact (chain-job.ts).
 */
import { z } from "zod";
import type { Deps } from "../../deps";
import { Invalid } from "../../errors";
import { loadEnvById } from "../../env/lookup";
import { envDbLogin } from "../../env/tenant-login";
import { defineJob, EnvJobTarget, onEnv, type StepContext, stepOutput, storingStep } from "../../jobs/define";
import { withSealedSecrets } from "../../jobs/secrets";
import { stepLogger } from "../../jobs/step-logger";
import { cleanupRestore, deleteBackup, MANIFEST_KEY_PURPOSE, runBackup } from "../backup";
import { CloneMethodParam, copyForClone } from "../clone-copy";
import { adminPg, copyOutput, namesOf } from "../replace-steps";
import { sanitizeCopy } from "../sanitize";
import { OneRunRules } from "../schema";
import { BackupTransfer } from "../transfer";
import { TransferPath, transferPrefix, transferTarget } from "./plan";
import { dropTransferDir, outgoingDir, outgoingRoot } from "./relay-dir";

export const CloneExportParams = EnvJobTarget.extend({
  /** Names the scratch copy beside the source's database (replace.ts), so the sweep knows it. */
  token: z.string().regex(/^[a-z0-9]{8}$/),
  transferId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/),
  targetSlug: z.string().min(1),
  /** The target's URL: the PII check's report names it; the target sets it itself. */
  targetUrl: z.string().min(1),
  anonymize: z.boolean(),
  method: CloneMethodParam,
  rules: OneRunRules.optional(),
  /**
   * Where the pack goes: the shared S3 target, or this host's transfer directory for the target
   * to fetch through the coordinator (relay-dir.ts). Chosen by the coordinator, not by this
   * host's config, so both sides agree; older queued jobs had only S3.
   */
  via: TransferPath.default("s3"),
  /** This host's id, which the relayed transfer names for the coordinator. */
  sourceHostId: z.string().min(1).optional(),
});
export type CloneExportParams = z.infer<typeof CloneExportParams>;
type Ctx = StepContext<CloneExportParams>;

/** What the chain reads back from the finished job: where the artifact is and its manifest. */
export const CloneExportResult = z.object({
  transfer: BackupTransfer,
  sizeBytes: z.number(),
  method: z.string(),
  reason: z.string(),
  filestore: z.enum(["anonymized", "copy", "empty"]),
});
export type CloneExportResult = z.infer<typeof CloneExportResult>;

/** Where the target fetches a relayed pack from: this host's, which the coordinator named. */
function relayOf(p: CloneExportParams) {
  if (!p.sourceHostId) throw new Invalid("a relayed clone's copy needs its source host's id; nothing was packed");
  return { hostId: p.sourceHostId, from: "pack" as const, slug: p.slug, transferId: p.transferId };
}

/** Drops what the upload step wrote (idempotent): the S3 prefix, or this host's transfer directory. */
async function dropPack(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  if (p.via === "relay") return dropTransferDir(outgoingDir(ctx.deps.paths, p.slug, p.transferId));
  const s3 = s3Of(ctx.deps);
  const prefix = transferPrefix(s3, p.slug, p.transferId);
  await deleteBackup({ s3: { target: transferTarget(s3), prefix } }, stepLogger(ctx));
}

/** The secret the result carries for the chain: the copy's dev password. */
export const DEV_PASSWORD_SECRET = "devPassword";

/** What the copy step records: the same as a same-host clone's (one copy, db/clone-copy.ts). */
const copied = copyOutput;

const uploaded = stepOutput(
  "upload",
  z.object({ s3Key: z.string().nullable(), manifest: z.record(z.string(), z.unknown()), sizeBytes: z.number() }),
);

function scratch(deps: Deps, p: CloneExportParams) {
  const source = loadEnvById(deps.db, p.envId);
  const n = namesOf(deps, source, p.token);
  return {
    source,
    n,
    cleanup: { pg: adminPg(deps), newDbName: n.newDb, filestoreTargetDir: n.filestoreDir, workDir: deps.paths.workDir },
  };
}

function s3Of(deps: Pick<Deps, "config">) {
  const s3 = deps.config.backups.s3;
  if (!s3)
    throw new Invalid(
      "this host has no S3 target configured (backups.s3); a clone to another host travels through the shared one",
    );
  return s3;
}

async function dropScratch(ctx: Ctx): Promise<void> {
  const { n, cleanup } = scratch(ctx.deps, ctx.params);
  await cleanupRestore(cleanup);
  ctx.log(`scratch copy ${n.newDb} and its filestore dropped`);
}

export const cloneExportJob = defineJob<CloneExportParams>({
  kind: "db.clone-export",
  params: CloneExportParams,
  ...onEnv,
  steps: [
    storingStep(copied, {
      title: "Copying the source into a scratch database on its own host",
      async run(ctx) {
        const { deps, params: p } = ctx;
        const { source, n, cleanup } = scratch(deps, p);
        // Leftovers of an interrupted attempt carry the same names: start clean.
        await cleanupRestore(cleanup);
        // The scratch copy is the source's own role's: it is the source tenant's data.
        return copyForClone(ctx, source, source, n);
      },
      undo: dropScratch,
    }),
    {
      name: "pii-check",
      title: "Checking the copy for the source's personal data, before it leaves the host",
      when: (p) => p.anonymize,
      // Rerun after a crash it would prove nothing new; fail and discard the copy instead.
      resumable: false,
      async run(ctx) {
        const { deps, params: p } = ctx;
        const { source, n } = scratch(deps, p);
        const anonymized = ctx.output(copied).anonymized;
        if (!anonymized) throw new Error("the copy step recorded no anonymization");
        // Only the check: the target neutralizes and rebases the copy once it is restored there.
        await sanitizeCopy(
          envDbLogin(deps, source, n.newDb),
          {
            anonymize: true,
            neutralize: false,
            rebase: false,
            baseUrl: p.targetUrl,
            anonymizedFrom: {
              source: envDbLogin(deps, source),
              tables: anonymized.tables,
              piiExclude: anonymized.piiExclude,
            },
            filestoreDir: n.stagedDir,
          },
          stepLogger(ctx, { db: n.newDb }),
        );
      },
    },
    storingStep(uploaded, {
      title: "Packing the copy for the target's host (shared S3 target, or this host's transfer directory)",
      async run(ctx) {
        const { deps, params: p } = ctx;
        const { source, n } = scratch(deps, p);
        const relay = p.via === "relay";
        if (relay) relayOf(p);
        const r = await runBackup({
          pg: envDbLogin(deps, source, n.newDb),
          dbName: n.newDb,
          filestoreDir: n.stagedDir,
          envSlug: source.slug,
          backupId: p.transferId,
          targets: relay ? { local: outgoingRoot(deps.paths) } : { s3: transferTarget(s3Of(deps)) },
          log: stepLogger(ctx),
          signal: ctx.signal,
          compressLevel: deps.config.backups.compressLevel,
          manifestKey: deps.box.derive(MANIFEST_KEY_PURPOSE),
        });
        if (relay) {
          if (r.status !== "completed" || !r.manifest || r.local?.status !== "ok")
            throw new Error(`packing the copy failed: ${r.error ?? "unknown reason"}`);
          ctx.log(
            `copy packed: ${r.sizeBytes} bytes in ${r.local.dir}, for the target to fetch through the coordinator`,
          );
          return { s3Key: null, manifest: r.manifest, sizeBytes: r.sizeBytes };
        }
        if (r.status !== "completed" || !r.manifest || r.s3?.status !== "ok")
          throw new Error(`upload of the copy failed: ${r.error ?? "unknown reason"}`);
        ctx.log(`copy uploaded: ${r.sizeBytes} bytes to s3://${r.s3.bucket}/${r.s3.prefix}`);
        return { s3Key: r.s3.prefix, manifest: r.manifest, sizeBytes: r.sizeBytes };
      },
      // A half-written artifact is nobody's: the chain deletes it too, this covers the job alone.
      undo: dropPack,
    }),
    { name: "drop-scratch", title: "Dropping the scratch copy", run: dropScratch },
  ],
  async succeeded(ctx) {
    const copy = ctx.output(copied);
    const up = ctx.output(uploaded);
    const result: CloneExportResult = {
      transfer:
        up.s3Key === null
          ? { relay: relayOf(ctx.params), manifest: up.manifest }
          : { s3Key: up.s3Key, manifest: up.manifest },
      sizeBytes: up.sizeBytes,
      method: copy.method,
      reason: copy.reason,
      filestore: copy.filestore,
    };
    const sealed = copy.anonymized?.devPasswordEnc;
    return sealed ? withSealedSecrets(result, { [DEV_PASSWORD_SECRET]: sealed }) : result;
  },
});
