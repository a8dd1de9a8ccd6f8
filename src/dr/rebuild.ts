/**
 * What the API asks of `dr rebuild`: the plan of every env (or one), and unless it is a dry run,
 * one `dr.rebuild` job per env that is not refused, production first (the queue runs them in
 * that order). Nothing here touches the host beyond reading which images it has.
 */
import { z } from "@hono/zod-openapi";
import type { CoordinatorDeps } from "../deps";
import { Invalid } from "../errors";
import type { JobView } from "../jobs/view";
import { rebuildEnvJob } from "./rebuild-job";
import { planRebuild, rebuildTargets, type RebuildPlanEntry } from "./rebuild-plan";

export const RebuildRequest = z
  .object({
    env: z.string().min(1).max(200).optional(),
    all: z.boolean().optional(),
    dryRun: z.boolean().default(false),
  })
  .strict();
export type RebuildRequest = z.input<typeof RebuildRequest>;

export interface RebuildOutcome {
  dryRun: boolean;
  plan: RebuildPlanEntry[];
  jobs: { env: string; job: JobView }[];
}

export async function startRebuild(
  deps: CoordinatorDeps,
  input: RebuildRequest,
  actor: string,
): Promise<RebuildOutcome> {
  const req = RebuildRequest.parse(input);
  if ((req.env === undefined) === (req.all !== true))
    throw new Invalid("say which environments: --env NAME, or --all for every one that is not destroyed");
  const plan = await planRebuild(deps, req.env);
  if (req.dryRun) return { dryRun: true, plan, jobs: [] };
  const bySlug = new Map(rebuildTargets(deps.db, req.env).map((e) => [e.slug, e]));
  const jobs: RebuildOutcome["jobs"] = [];
  for (const p of plan) {
    const env = bySlug.get(p.env);
    if (!env || p.refused !== null) continue;
    jobs.push({ env: p.env, job: deps.jobs.enqueue(rebuildEnvJob, { envId: env.id, slug: env.slug }, actor) });
  }
  deps.audit.record({
    actor,
    action: "dr.rebuild",
    target: req.env ?? "all",
    outcome: plan.some((p) => p.refused !== null) ? "failed" : "ok",
    details: {
      jobs: jobs.map((j) => ({ env: j.env, job: j.job.id })),
      refused: plan.filter((p) => p.refused !== null).map((p) => ({ env: p.env, reason: p.refused })),
    },
  });
  return { dryRun: false, plan, jobs };
}
