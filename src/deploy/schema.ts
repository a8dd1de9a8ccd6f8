/** API shapes of deployments and rollbacks (routes, OpenAPI and the CLI renderer). */
import { z } from "@hono/zod-openapi";
import { JobView } from "../jobs/view";
import { GatePlanView } from "../policy/view";
import { DEPLOYMENT_KINDS, DEPLOYMENT_STATUSES } from "./vocabulary";

const ModuleChange = z.object({ name: z.string(), from: z.string().nullable(), to: z.string() });

export const ApprovalView = z
  .object({
    deadline: z.string().nullable(),
    decision: z.enum(["approved", "rejected", "timed_out"]).nullable(),
    by: z.string().nullable(),
    reason: z.string().nullable(),
    at: z.string().nullable(),
  })
  .openapi("Approval");

export const DeploymentView = z
  .object({
    id: z.string(),
    env: z.string(),
    release: z.number(),
    kind: z.enum(DEPLOYMENT_KINDS),
    status: z.enum(DEPLOYMENT_STATUSES),
    commit: z.string().nullable(),
    branch: z.string().nullable(),
    image: z.string().nullable(),
    modulesUpdated: z.array(ModuleChange),
    modulesInstalled: z.array(z.string()),
    /** The database was changed by this deployment (module update/install ran). */
    migrated: z.boolean(),
    /** Pre-deploy backup (production): what a rollback restores. */
    backupId: z.string().nullable(),
    rollbackOf: z.string().nullable(),
    /** Null until the deployment's source step read the policy (and for rollbacks). */
    gates: GatePlanView.nullable(),
    /** manual_approval: the deadline and the decision (null when the gate does not apply). */
    approval: ApprovalView.nullable(),
    current: z.boolean(),
    jobId: z.string().nullable(),
    stepTimings: z.record(z.string(), z.number()),
    error: z.string().nullable(),
    createdBy: z.string().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .openapi("Deployment");
export type DeploymentView = z.infer<typeof DeploymentView>;

const Sha = z.string().regex(/^[0-9a-fA-F]{7,40}$/, "a commit sha: 7 to 40 hex digits");

export const DeployRequest = z
  .object({
    sha: Sha.optional(),
    branch: z.string().min(1).max(200).optional(),
    dryRun: z.boolean().optional(),
  })
  .strict()
  .refine((r) => !(r.sha && r.branch), { message: "give --sha or --branch, not both" })
  .openapi("DeployRequest");
export type DeployRequest = z.infer<typeof DeployRequest>;

export const DeployPlan = z
  .object({
    env: z.string(),
    repo: z.string(),
    commit: z.string(),
    branch: z.string().nullable(),
    image: z.object({ tag: z.string(), action: z.enum(["build", "reuse"]) }),
    tests: z.object({ run: z.boolean(), modules: z.array(z.string()) }),
    /** From the policy in force now (the deploy itself reads it at the commit). */
    gates: GatePlanView,
    backup: z.boolean(),
    modules: z.object({
      update: z.array(ModuleChange.extend({ reason: z.enum(["version", "content"]) })),
      install: z.array(z.string()),
      unchanged: z.array(z.string()),
    }),
    switch: z.object({ from: z.string().nullable(), toRelease: z.number() }),
  })
  .openapi("DeployPlan");
export type DeployPlan = z.infer<typeof DeployPlan>;

export const DeployOutcome = z.union([
  z.object({ dryRun: z.literal(true), plan: DeployPlan }),
  z.object({ dryRun: z.literal(false), deployment: DeploymentView, job: JobView }),
]);
export type DeployOutcome = z.infer<typeof DeployOutcome>;

export const RollbackRequest = z
  .object({
    /** A deployment id or a commit sha; default: the previous successful deployment. */
    to: z.string().min(1).max(64).optional(),
    /** Required when the target predates a migration: restore that migration's pre-deploy backup. */
    restoreDb: z.boolean().optional(),
    /** ... or run the old code on the newer database anyway. */
    keepDb: z.boolean().optional(),
  })
  .strict()
  .refine((r) => !(r.restoreDb && r.keepDb), { message: "give --restore-db or --keep-db, not both" })
  .openapi("RollbackRequest");
export type RollbackRequest = z.infer<typeof RollbackRequest>;

export const ApprovalRequest = z
  .object({ reason: z.string().min(1).max(1000).optional() })
  .strict()
  .openapi("ApprovalRequest");
export type ApprovalRequest = z.infer<typeof ApprovalRequest>;

/** `GET /environments/{name}/commits`: what the console's deploy picker offers, from the project's mirror. */
export const DeployChoices = z
  .object({
    /** The branch a deploy without a choice follows (the env's, else the project's default). */
    branch: z.string(),
    branches: z.array(z.object({ name: z.string(), sha: z.string(), date: z.string(), subject: z.string() })),
    /** The newest commits of `branch`. */
    commits: z.array(z.object({ sha: z.string(), date: z.string(), author: z.string(), subject: z.string() })),
  })
  .openapi("DeployChoices");
export type DeployChoices = z.infer<typeof DeployChoices>;

export const DeploymentListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(20),
});
