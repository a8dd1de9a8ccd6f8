/**
 * `rollback` as a job: the kept image of an earlier release goes back in front with the same
 * health-gated switch as a deploy (no rebuild). With `--restore-db` the database first goes back
 * to the pre-deploy backup of the first migration being undone.
 */
import { z } from "zod";
import { loadEnvById } from "../env/lookup";
import { defineJob, onEnv, EnvJobTarget } from "../jobs/define";
import { finishDeployment, loadDeployment, recordTiming } from "./records";
import { releaseSteps } from "./release-steps";
import { restorePreDeployBackup, undoPreDeployRestore } from "./restore";

export const RollbackJobParams = EnvJobTarget.extend({
  deploymentId: z.string().min(1),
});
export type RollbackJobParams = z.infer<typeof RollbackJobParams>;

export const rollbackJob = defineJob<RollbackJobParams>({
  kind: "rollback",
  params: RollbackJobParams,
  ...onEnv,
  steps: [
    {
      name: "restore",
      title: "Restoring the database",
      when: (p, deps) => loadDeployment(deps.db, p.deploymentId).backupId !== null,
      async run(ctx) {
        const t0 = performance.now();
        const d = loadDeployment(ctx.deps.db, ctx.params.deploymentId);
        await restorePreDeployBackup(ctx.deps, loadEnvById(ctx.deps.db, ctx.params.envId), d.backupId ?? "", d.id, ctx);
        recordTiming(ctx.deps.db, d.id, "restore", Math.round(performance.now() - t0));
      },
      async undo(ctx) {
        await undoPreDeployRestore(ctx.deps, loadEnvById(ctx.deps.db, ctx.params.envId), ctx.params.deploymentId, ctx);
      },
    },
    ...releaseSteps<RollbackJobParams>(),
  ],
  async succeeded(ctx) {
    finishDeployment(ctx.deps.db, ctx.params.deploymentId, { status: "success", error: null });
    const d = loadDeployment(ctx.deps.db, ctx.params.deploymentId);
    return { env: ctx.params.slug, deployment: d.id, release: d.release, rollbackOf: d.rollbackOf, image: d.image };
  },
  async failed(ctx, error, cancelled) {
    finishDeployment(ctx.deps.db, ctx.params.deploymentId, {
      status: cancelled ? "cancelled" : "failed",
      error: cancelled ? "rollback cancelled" : error,
    });
  },
});
