/**
 * `deploy` as a job: source → build → plan → tests (throwaway empty database) → approval →
 * rehearse (update + boot on a copy of the database) → backup (production) → migrate → start →
 * switch → prune. The approval comes before the rehearsal: the new commit's code never runs
 * against a copy of the env's data before a human let it. The env's database is
 * touched only after the rehearsal passed, and users reach nothing new before `start` has a
 * healthy release beside the serving one; a failure before the switch leaves the old release
 * serving, a failure after the migration restores the pre-deploy backup first (undo of `migrate`).
 */
import { rmSync } from "node:fs";
import { z } from "zod";
import { Conflict, errorText } from "../errors";
import { statusText } from "../env/guards";
import { loadEnvById } from "../env/lookup";
import { envResources } from "../env/resources";
import { defineJob, type StepContext, stepOutput, storingStep, onEnv, EnvJobTarget } from "../jobs/define";
import { buildReleaseForJob } from "./build";
import { takePreDeployBackup } from "./backup";
import { pushRelease } from "./push";
import { runOdooOnce } from "../env/odoo-once";
import { baselineChecksums, finishDeployment, loadDeployment, setDeployment, timedStep } from "./records";
import { rehearsalSkipped, rehearse, updateArgs } from "./rehearse";
import { releaseSteps } from "./release-steps";
import { restorePreDeployBackup } from "./restore";
import { applyPolicy } from "./policy";
import { approvalStep, gateFailure, gatesOf, smokeStep } from "./gate-steps";
import { runTestsGate } from "./tests-gate";
import { fetchCommit, planModules, projectOf } from "./source";

export const DeployJobParams = EnvJobTarget.extend({
  deploymentId: z.string().min(1),
});
export type DeployJobParams = z.infer<typeof DeployJobParams>;
type Ctx = StepContext<DeployJobParams>;

const envOf = (ctx: Ctx) => loadEnvById(ctx.deps.db, ctx.params.envId);
const deploymentOf = (ctx: Ctx) => loadDeployment(ctx.deps.db, ctx.params.deploymentId);

const timed = <T>(ctx: Ctx, step: string, fn: () => Promise<T>): Promise<T> =>
  timedStep(ctx.deps.db, ctx.params.deploymentId, step, fn);

/** The fetched commit and the policy's `install_modules` as it was when the deploy started. */
const sourceOutput = stepOutput(
  "source",
  z.object({
    mirror: z.string(),
    sha: z.string(),
    installModules: z.union([z.enum(["all", "none"]), z.array(z.string())]),
  }),
);
const buildOutput = stepOutput(
  "build",
  z.object({ image: z.string(), reused: z.boolean(), id: z.string(), pushed: z.string().optional() }),
);
const planOutput = stepOutput(
  "plan",
  z.object({
    plan: z.object({
      update: z.array(
        z.object({
          name: z.string(),
          from: z.string().nullable(),
          to: z.string(),
          reason: z.enum(["version", "content"]),
        }),
      ),
      install: z.array(z.string()),
      unchanged: z.array(z.string()),
    }),
    testModules: z.array(z.string()),
  }),
);

const previousChecksums = (ctx: Ctx): Record<string, string> | null => baselineChecksums(ctx.deps.db, envOf(ctx));

export const deployJob = defineJob<DeployJobParams>({
  kind: "deploy",
  params: DeployJobParams,
  ...onEnv,
  steps: [
    storingStep(sourceOutput, {
      title: "Fetching the commit",
      run: (ctx) =>
        timed(ctx, "source", async () => {
          const d = deploymentOf(ctx);
          const env = envOf(ctx);
          // A deploy queued behind a create that failed (or a destroy) has nothing to deploy to.
          if (env.status !== "active" && env.status !== "stopped")
            throw new Conflict(`environment ${env.slug} is ${statusText(env)}; nothing to deploy to`);
          const { mirror, sha, branch } = await fetchCommit(ctx.deps, env, { sha: d.commitSha, branch: d.branch }, ctx);
          setDeployment(ctx.deps.db, d.id, { commitSha: sha, branch: d.branch ?? branch });
          ctx.log(`commit ${sha}${branch ? ` (head of ${branch})` : ""}`);
          const { installModules } = await applyPolicy(ctx.deps, env, projectOf(ctx.deps, env), d.id, mirror, (l) =>
            ctx.log(l),
          );
          return { mirror, sha, installModules };
        }),
    }),
    storingStep(buildOutput, {
      title: "Building the image",
      run: (ctx) =>
        timed(ctx, "build", async () => {
          const env = envOf(ctx);
          const { mirror, sha } = ctx.output(sourceOutput);
          setDeployment(ctx.deps.db, ctx.params.deploymentId, { status: "building" });
          const built = await buildReleaseForJob(ctx, env, mirror, sha);
          setDeployment(ctx.deps.db, ctx.params.deploymentId, { image: built.image });
          ctx.log(built.reused ? `reusing ${built.image} (built before for this commit)` : `built ${built.image}`);
          const { registry } = ctx.deps.config.deploy;
          if (registry === "") return built;
          const pushed = await pushRelease(
            ctx.deps.config.docker,
            registry,
            built.image,
            (l) => ctx.log(l),
            ctx.signal,
          );
          ctx.log(`pushed ${pushed}`);
          return { ...built, pushed };
        }),
    }),
    storingStep(planOutput, {
      title: "Planning module updates",
      run: (ctx) =>
        timed(ctx, "plan", async () => {
          const { mirror, sha, installModules } = ctx.output(sourceOutput);
          const { repo, plan } = await planModules(
            ctx.deps,
            envOf(ctx),
            mirror,
            sha,
            previousChecksums(ctx),
            ctx.jobId,
            installModules,
          );
          setDeployment(ctx.deps.db, ctx.params.deploymentId, {
            moduleChecksums: Object.fromEntries(repo.map((m) => [m.name, m.checksum])),
          });
          for (const u of plan.update) ctx.log(`update ${u.name}: ${u.from ?? "-"} → ${u.to} (${u.reason})`);
          if (plan.install.length > 0) ctx.log(`install ${plan.install.join(", ")}`);
          if (plan.update.length + plan.install.length === 0) ctx.log("no module changes: the database is not touched");
          return { plan, testModules: repo.filter((m) => m.installable).map((m) => m.name) };
        }),
    }),
    {
      name: "tests",
      title: "Running the addon tests",
      when: (p, deps) => gatesOf(deps.db, p.deploymentId).tests.run,
      run: (ctx) =>
        timed(ctx, "tests", async () => {
          const { testModules } = ctx.output(planOutput);
          const gate = gatesOf(ctx.deps.db, ctx.params.deploymentId).tests;
          if (testModules.length === 0 && !gate.command) {
            ctx.log("the repository has no installable addons: nothing to test");
            return;
          }
          setDeployment(ctx.deps.db, ctx.params.deploymentId, { status: "testing" });
          const { image } = ctx.output(buildOutput);
          const failure = await runTestsGate(ctx.deps, envOf(ctx), image, testModules, gate.command, ctx.jobId, ctx);
          if (failure) gateFailure(gate.required, failure, (l) => ctx.log(l));
        }),
    },
    approvalStep<DeployJobParams>(),
    {
      name: "rehearse",
      title: "Rehearsing on a copy of the database",
      run: (ctx) =>
        timed(ctx, "rehearse", async () => {
          const env = envOf(ctx);
          const gate = gatesOf(ctx.deps.db, ctx.params.deploymentId).migrations;
          const { plan } = ctx.output(planOutput);
          const skipped = await rehearsalSkipped(ctx.deps, env, gate, plan);
          if (skipped) {
            ctx.log(`no rehearsal: ${skipped}`);
            return;
          }
          const { image } = ctx.output(buildOutput);
          try {
            await rehearse(ctx.deps, env, image, plan, ctx.jobId, ctx, { neutralize: gate.neutralize });
          } catch (err) {
            if (gate.required || ctx.signal.aborted) throw err;
            gateFailure(false, errorText(err), (l) => ctx.log(l));
          }
        }),
    },
    {
      name: "backup",
      title: "Backing up before the migration",
      when: (p, deps) => loadEnvById(deps.db, p.envId).tier === "production",
      run: (ctx) =>
        timed(ctx, "backup", async () => {
          await takePreDeployBackup(ctx.deps, envOf(ctx), ctx.params.deploymentId, ctx);
        }),
    },
    {
      name: "migrate",
      title: "Updating modules",
      run: (ctx) =>
        timed(ctx, "migrate", async () => {
          const { plan } = ctx.output(planOutput);
          if (plan.update.length + plan.install.length === 0) return;
          setDeployment(ctx.deps.db, ctx.params.deploymentId, { status: "migrating" });
          const env = envOf(ctx);
          const r = envResources(env, ctx.deps);
          const { image } = ctx.output(buildOutput);
          const args = updateArgs(plan);
          // Recorded before running: a crash mid-update must still make the undo restore the backup.
          setDeployment(ctx.deps.db, ctx.params.deploymentId, { migrated: true });
          const result = await runOdooOnce(ctx.deps, env, {
            image,
            name: `${r.initContainer}-migrate`,
            network: r.network,
            confFile: r.confFile,
            dataDir: r.dataDir,
            dbName: env.dbName,
            args,
            log: (l) => ctx.log(l),
            signal: ctx.signal,
          });
          if (result.exitCode !== 0)
            throw new Error(`module update failed (exit ${result.exitCode}):\n${result.failure}`);
          setDeployment(ctx.deps.db, ctx.params.deploymentId, {
            modulesUpdated: plan.update.map(({ name, from, to }) => ({ name, from, to })),
            modulesInstalled: plan.install,
          });
        }),
      async undo(ctx) {
        const d = deploymentOf(ctx);
        if (!d.migrated) return;
        if (d.backupId) {
          await restorePreDeployBackup(ctx.deps, envOf(ctx), d.backupId, d.id, ctx);
          setDeployment(ctx.deps.db, d.id, { migrated: false });
        } else {
          ctx.log(
            `warn: no pre-deploy backup on this tier: the database keeps the update; the previous release serves it`,
          );
        }
      },
    },
    ...releaseSteps<DeployJobParams>([smokeStep<DeployJobParams>()]),
  ],
  async succeeded(ctx) {
    rmSync(`${ctx.deps.paths.workDir}/build-${ctx.jobId}`, { recursive: true, force: true });
    finishDeployment(ctx.deps.db, ctx.params.deploymentId, { status: "success", error: null });
    const d = deploymentOf(ctx);
    return { env: ctx.params.slug, deployment: d.id, release: d.release, commit: d.commitSha, image: d.image };
  },
  async failed(ctx, error, cancelled) {
    rmSync(`${ctx.deps.paths.workDir}/build-${ctx.jobId}`, { recursive: true, force: true });
    const d = deploymentOf(ctx);
    const rejected =
      !cancelled &&
      (d.approvalDecision === "rejected" ||
        (d.approvalDecision === "timed_out" && d.gates?.approval?.required === true));
    // Cancelled is not a failure of the release: listed as such, so nobody goes looking for a cause.
    finishDeployment(ctx.deps.db, ctx.params.deploymentId, {
      status: cancelled ? "cancelled" : rejected ? "rejected" : "failed",
      error: cancelled ? "deployment cancelled" : error,
    });
  },
});
