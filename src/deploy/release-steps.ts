/**
 * The steps deploy and rollback share: start the deployment's image beside the serving release,
 * switch nginx to it, retire the old one, prune what retention no longer needs. Both jobs carry
 * the deployment in their params; its row holds the image and the release number.
 */
import { z } from "zod";
import { recordCurrentDeployment } from "../env/state";
import { loadEnvById } from "../env/lookup";
import { envResources } from "../env/resources";
import { envHost } from "../env/host";
import { run } from "../exec/run";
import { type StepContext, type StepDef, stepOutput, storingStep } from "../jobs/define";
import { pruneReleases } from "./prune";
import { loadDeployment, recordTiming, setDeployment } from "./records";
import { pointNginxAt, restoreServing, retire, servingOf, startRelease } from "./release";
import { errorText } from "../errors";

interface ReleaseParams {
  envId: string;
  deploymentId: string;
}

/** The started release and what served before it: switch points nginx at one and its undo back at the other. */
export const startOutput = stepOutput(
  "start",
  z.object({
    container: z.string(),
    httpPort: z.number(),
    longpollPort: z.number(),
    release: z.number(),
    previous: z.object({
      container: z.string().nullable(),
      httpPort: z.number().nullable(),
      longpollPort: z.number().nullable(),
      release: z.number(),
    }),
    previousDeployment: z.string().nullable(),
  }),
);

function setCurrent(ctx: StepContext<ReleaseParams>, deploymentId: string | null): void {
  recordCurrentDeployment(ctx.deps.db, ctx.params.envId, deploymentId);
}

/** `beforeSwitch`: gates on the started release (deploy's smoke tests); `startOutput` names it. */
export function releaseSteps<P extends ReleaseParams>(beforeSwitch: StepDef<P>[] = []): StepDef<P>[] {
  return [
    storingStep(startOutput, {
      title: "Starting the new release",
      async run(ctx) {
        const t0 = performance.now();
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        const d = loadDeployment(ctx.deps.db, ctx.params.deploymentId);
        if (!d.image) throw new Error(`deployment ${d.id} has no image to start`);
        setDeployment(ctx.deps.db, d.id, { status: "switching" });
        const started = await startRelease(ctx.deps, env, d.release, d.image, ctx);
        setDeployment(ctx.deps.db, d.id, { container: started.container });
        recordTiming(ctx.deps.db, d.id, "start", Math.round(performance.now() - t0));
        return { ...started, previous: servingOf(env), previousDeployment: env.currentDeploymentId };
      },
      async undo(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        const d = loadDeployment(ctx.deps.db, ctx.params.deploymentId);
        const name = envResources(env, ctx.deps).webContainer(d.release);
        if (env.containerName !== name)
          await run(envHost(ctx.deps).docker.rm(name, { force: true }), { nothrow: true });
      },
    }),
    ...beforeSwitch,
    {
      name: "switch",
      title: "Switching traffic",
      async run(ctx) {
        const t0 = performance.now();
        const out = ctx.output(startOutput);
        await pointNginxAt(ctx.deps, loadEnvById(ctx.deps.db, ctx.params.envId), out, ctx);
        setCurrent(ctx, ctx.params.deploymentId);
        if (out.previous.container && out.previous.container !== out.container)
          await retire(ctx.deps, out.previous.container, ctx);
        recordTiming(ctx.deps.db, ctx.params.deploymentId, "switch", Math.round(performance.now() - t0));
      },
      async undo(ctx) {
        // Nothing started, nothing to switch back.
        const out = ctx.outputIfDone(startOutput);
        if (!out) return;
        // Also when the env row still names the old release: the vhost may already point at
        // the new one (a reload or the check through nginx failed after it was rewritten).
        await restoreServing(ctx.deps, loadEnvById(ctx.deps.db, ctx.params.envId), out.previous, ctx);
        setCurrent(ctx, out.previousDeployment);
      },
    },
    {
      name: "prune",
      title: "Pruning old releases",
      async run(ctx) {
        const out = ctx.output(startOutput);
        // The new release serves already: a pruning problem is reported, never undone over.
        try {
          await pruneReleases(
            ctx.deps,
            loadEnvById(ctx.deps.db, ctx.params.envId),
            ctx.params.deploymentId,
            out.previous.container,
            ctx,
          );
        } catch (err) {
          const reason = errorText(err);
          ctx.log(`warn: pruning old releases failed (the next deploy tries again): ${reason}`);
        }
      },
    },
  ];
}
