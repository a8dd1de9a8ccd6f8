/**
 * Removes a relayed clone's pack from the source's host (relay-dir.ts), once the target read it
 * or the clone failed: the coordinator opens no connection to an agent, so it queues this job,
 * locked on the source env and so run on its host, as the export was. Idempotent.
 */
import { z } from "zod";
import { defineJob, EnvJobTarget, onEnv } from "../../jobs/define";
import { dropTransferDir, outgoingDir } from "./relay-dir";

export const TransferDropParams = EnvJobTarget.extend({
  transferId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/),
});
export type TransferDropParams = z.infer<typeof TransferDropParams>;

export const transferDropJob = defineJob<TransferDropParams>({
  kind: "db.clone-transfer-drop",
  params: TransferDropParams,
  ...onEnv,
  steps: [
    {
      name: "drop",
      title: "Deleting the clone's copy from this host's transfer directory",
      async run(ctx) {
        const dir = outgoingDir(ctx.deps.paths, ctx.params.slug, ctx.params.transferId);
        await dropTransferDir(dir);
        ctx.log(`transfer directory ${dir} deleted`);
      },
    },
  ],
});
