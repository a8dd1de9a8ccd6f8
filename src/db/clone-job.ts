/**
 * `db clone` as a job, locked on the TARGET env (which must exist): the source's database copied
 * into a new database owned by the target's role (file-level template copy when nobody is
 * connected to the source, else a streamed dump; the step says which and why) and its filestore
 * copied beside the target's (a copy of its own: copy-on-write where the filesystem has it), the copy sanitized (anonymized and
 * neutralized by default from production to anything else, always given the target's URL and a
 * new identity), then the shared stop → swap → start → health → drop-old sequence.
 * An anonymized clone is anonymized while it is copied (db/anonymize/copy.ts: no source value of a
 * ruled column is ever written to the copy's disk) and gets a filestore of placeholders plus the
 * module/asset files; the sanitize step then only checks it (and neutralizes).
 */
import type { z } from "zod";
import { loadEnvById } from "../env/lookup";
import { CloneMethodParam, copyForClone } from "./clone-copy";
import { defineJob, storingStep, onEnv } from "../jobs/define";
import { cleanupRestore } from "./backup";
import {
  adoptCopyPassword,
  afterFailure,
  copyOutput,
  ensureFilestoreRoot,
  preBackupStep,
  preparedCopy,
  ReplaceParams,
  replaceOutcome,
  replaceSteps,
  sanitizeStep,
  undoPreparedCopy,
} from "./replace-steps";

export const CloneJobParams = ReplaceParams.extend({ method: CloneMethodParam.default("auto") });
export type CloneJobParams = z.infer<typeof CloneJobParams>;

export const cloneJob = defineJob<CloneJobParams>({
  kind: "db.clone",
  params: CloneJobParams,
  ...onEnv,
  steps: [
    preBackupStep<CloneJobParams>(),
    storingStep(copyOutput, {
      title: "Copying the source database and filestore",
      async run(ctx) {
        const { deps, params: p } = ctx;
        const { env, n, cleanup } = preparedCopy(deps, p);
        const source = loadEnvById(deps.db, p.sourceEnvId);
        // Leftovers of an interrupted attempt carry the same names: start clean.
        await cleanupRestore(cleanup);
        await ensureFilestoreRoot(deps, n);
        return copyForClone(ctx, source, env, n);
      },
      undo: undoPreparedCopy,
    }),
    sanitizeStep<CloneJobParams>(),
    ...replaceSteps<CloneJobParams>(),
  ],
  async succeeded(ctx) {
    const copy = ctx.output(copyOutput);
    return adoptCopyPassword(ctx, {
      ...replaceOutcome(ctx),
      method: copy.method,
      reason: copy.reason,
      filestore: copy.filestore,
    });
  },
  async failed(ctx, error, cancelled) {
    await afterFailure(ctx.deps, ctx.params, "clone", cancelled ? "cancelled" : error);
  },
});
