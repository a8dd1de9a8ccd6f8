/**
 * `db migrate` as a job, locked on the env. The plan needs docker (the serving image's
 * manifests) and the env's database, which only the agent's side reaches, so a dry run is the
 * same job with only its first step: it reports the plan and changes nothing. Otherwise:
 * production is backed up first, Odoo is stopped, `-u <modules> --stop-after-init` runs in the
 * serving image with the env's conf, data dir and network, then Odoo starts and must answer.
 * A failed update leaves the env started again on its (partly updated) database; the job's
 * error names the pre-migration backup to restore from.
 */
import { z } from "zod";
import { installedModules } from "../odoo/modules";
import { seriesOf } from "./backup";
import type { CoordinatorDeps } from "../deps";
import { envHost } from "../env/host";
import { findEnv, loadEnvById } from "../env/lookup";
import { envResources } from "../env/resources";
import { waitEnvServed } from "../env/served";
import type { Environment } from "../env/env.sql";
import { runOdooOnce } from "../env/odoo-once";
import { envDbLogin } from "../env/tenant-login";
import { run } from "../exec/run";
import { defineJob, type StepContext, stepOutput, storingStep, onEnv, EnvJobTarget } from "../jobs/define";
import type { JobView } from "../jobs/view";
import { backupBeforeChange, backupTargets, failRunningBackup } from "./backup-job";
import { readImageModules, planMigration, servingImage } from "./migrate";
import { requireCreated } from "../env/guards";

export const MigrateJobParams = EnvJobTarget.extend({
  dryRun: z.boolean(),
  /** Production only: the backup taken before anything changes (created by the job when there is work). */
  preBackupId: z.string().nullable(),
});
export type MigrateJobParams = z.infer<typeof MigrateJobParams>;
type Ctx = StepContext<MigrateJobParams>;

/** The `plan` step always runs first: every later step reads it. */
const planOutput = stepOutput(
  "plan",
  z.object({
    image: z.string(),
    update: z.array(
      z.object({
        name: z.string(),
        from: z.string().nullable(),
        to: z.string().nullable(),
        reason: z.enum(["version", "to upgrade", "to install"]),
      }),
    ),
    modules: z.array(z.string()),
  }),
);
const preBackupOutput = stepOutput("pre-backup", z.object({ backupId: z.string().nullable() }));
const hasWork = (ctx: Ctx) => ctx.output(planOutput).modules.length > 0;

/** Odoo serves the env only when it is active; a stopped env is updated and left stopped. */
function serving(env: Environment): string | null {
  return env.status === "active" && env.containerName ? env.containerName : null;
}

export const migrateJob = defineJob<MigrateJobParams>({
  kind: "db.migrate",
  params: MigrateJobParams,
  ...onEnv,
  steps: [
    storingStep(planOutput, {
      title: "Comparing installed modules with the serving image",
      async run(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        const image = await servingImage(ctx.deps, env);
        const installed = await installedModules(envDbLogin(ctx.deps, env));
        const plan = planMigration(
          image,
          installed,
          await readImageModules(ctx.deps, image, seriesOf(installed, image)),
        );
        for (const u of plan.update) ctx.log(`${u.name}: ${u.from ?? "-"} → ${u.to ?? "-"} (${u.reason})`);
        ctx.log(
          plan.modules.length === 0
            ? `nothing to update: every installed module matches ${image}`
            : `${plan.modules.length} module(s) to update from ${image}`,
        );
        return plan;
      },
    }),
    storingStep(preBackupOutput, {
      title: "Backing up the database first",
      when: (p) => !p.dryRun && p.preBackupId !== null,
      async run(ctx) {
        if (!hasWork(ctx)) return { backupId: null };
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        const done = await backupBeforeChange(ctx.deps, env, ctx.params.preBackupId ?? "", "pre_deploy", ctx);
        return { backupId: done.backupId };
      },
    }),
    {
      name: "stop",
      title: "Stopping Odoo",
      when: (p) => !p.dryRun,
      async run(ctx) {
        const name = hasWork(ctx) ? serving(loadEnvById(ctx.deps.db, ctx.params.envId)) : null;
        if (name) await run(envHost(ctx.deps).docker.stop(name, 30));
      },
      async undo(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        const name = serving(env);
        if (!name) return;
        await run(envHost(ctx.deps).docker.start(name));
        await waitEnvServed(ctx.deps, env, ctx);
      },
    },
    {
      name: "update",
      title: "Updating modules (-u … --stop-after-init)",
      when: (p) => !p.dryRun,
      async run(ctx) {
        const plan = ctx.output(planOutput);
        if (plan.modules.length === 0) return;
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        const r = envResources(env, ctx.deps);
        const result = await runOdooOnce(ctx.deps, env, {
          image: plan.image,
          name: `${r.initContainer}-migrate`,
          network: r.network,
          confFile: r.confFile,
          dataDir: r.dataDir,
          dbName: env.dbName,
          args: ["-u", plan.modules.join(",")],
          log: (l) => ctx.log(l),
          signal: ctx.signal,
        });
        if (result.exitCode !== 0) {
          const restore = ctx.params.preBackupId
            ? `\nthe database may be partly updated; to go back: odooops db restore ${env.slug} --backup ${ctx.params.preBackupId}`
            : "";
          throw new Error(`module update failed (exit ${result.exitCode}):\n${result.failure}${restore}`);
        }
      },
    },
    {
      name: "start",
      title: "Starting Odoo",
      when: (p) => !p.dryRun,
      async run(ctx) {
        const name = hasWork(ctx) ? serving(loadEnvById(ctx.deps.db, ctx.params.envId)) : null;
        if (name) await run(envHost(ctx.deps).docker.start(name));
      },
    },
    {
      name: "health",
      title: "Waiting for Odoo to answer",
      when: (p) => !p.dryRun,
      async run(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        if (!serving(env)) return;
        await waitEnvServed(ctx.deps, env, ctx);
      },
    },
  ],
  async succeeded(ctx) {
    const plan = ctx.output(planOutput);
    // Skipped (no pre-backup for this env or a dry run): nothing was backed up.
    const backedUp = ctx.outputIfDone(preBackupOutput)?.backupId ?? null;
    return {
      env: ctx.params.slug,
      dryRun: ctx.params.dryRun,
      image: plan.image,
      update: plan.update,
      modules: plan.modules,
      preBackupId: backedUp,
    };
  },
  async failed(ctx, error, cancelled) {
    if (ctx.params.preBackupId)
      failRunningBackup(
        ctx.deps.db,
        ctx.params.preBackupId,
        `migration failed before this backup completed: ${cancelled ? "cancelled" : error}`,
      );
  },
});

export function startDbMigrate(
  deps: CoordinatorDeps,
  envName: string,
  req: { dryRun: boolean },
  actor: string,
): JobView {
  const env = findEnv(deps.db, envName);
  requireCreated(env, "it must be active or stopped");
  const preBackup = !req.dryRun && env.tier === "production";
  // A backup first needs somewhere to put it: refuse now rather than fail the job.
  if (preBackup) backupTargets(deps);
  const job = deps.jobs.enqueue(
    migrateJob,
    { envId: env.id, slug: env.slug, dryRun: req.dryRun, preBackupId: preBackup ? Bun.randomUUIDv7() : null },
    actor,
  );
  if (!req.dryRun) deps.audit.record({ actor, action: "db.migrate", target: env.slug, details: { job: job.id } });
  return job;
}
