/**
 * What the API and CLI ask of deployments: validate, record the deployment row, audit, enqueue
 * its job. `--dry-run` computes the whole plan (commit, image build or reuse, tests, modules
 * from → to, the switch) and changes nothing but the host's git mirror.
 */
import { requireRole } from "../auth/roles";
import type { Principal } from "../auth/service";
import { Conflict, Forbidden, Invalid, NotFound } from "../errors";
import type { CoordinatorDeps } from "../deps";
import { envHost } from "../env/host";
import { statusText } from "../env/guards";
import { findEnv, loadEnvById } from "../env/lookup";
import { refuseWhileMoving } from "../env/moving";
import type { Environment } from "../env/env.sql";
import { validateBranch } from "../git/validate";
import { deployJob } from "./deploy-job";
import { releaseImageTag } from "./build";
import {
  baselineChecksums,
  envDeployments,
  insertDeployment,
  loadDeployment,
  nextRelease,
  recordApprovalDecision,
  setDeployment,
  successfulDeployments,
  toDeploymentView,
  type DeploymentRow,
} from "./records";
import { rollbackJob } from "./rollback-job";
import type { DeployOutcome, DeployPlan, DeployRequest, DeploymentView, RollbackRequest } from "./schema";
import { fetchCommit, planModules, projectOf, projectRepo } from "./source";
import { planGates } from "../policy/gates";
import { readDefaultBranchPolicy } from "../policy/repo";

function deployable(deps: CoordinatorDeps, env: Environment, what: string): void {
  if (env.status !== "active") {
    throw new Conflict(`environment ${env.slug} is ${statusText(env)}; ${what} needs an active environment`);
  }
  refuseWhileMoving(deps.db, env, what);
}

async function planDeploy(deps: CoordinatorDeps, env: Environment, req: DeployRequest): Promise<DeployPlan> {
  const { url } = projectRepo(deps, env);
  const io = { log: () => undefined };
  const { mirror, sha, branch } = await fetchCommit(deps, env, req, io);
  const tag = releaseImageTag(deps.config.docker.namePrefix, env.slug, sha);
  const built = await envHost(deps).dockerClient.inspectImage(tag);
  const { policy, source } = await readDefaultBranchPolicy(mirror, projectOf(deps, env));
  const { repo, plan } = await planModules(
    deps,
    env,
    mirror,
    sha,
    baselineChecksums(deps.db, env),
    `plan-${crypto.randomUUID()}`,
    policy.install_modules,
  );
  const gates = planGates(policy, env.tier, deps.config.deploy, source);
  return {
    env: env.slug,
    repo: url,
    commit: sha,
    branch,
    image: { tag, action: built?.Config.Labels?.["odooops.commit"] === sha ? "reuse" : "build" },
    tests: {
      run: gates.tests.run,
      modules: gates.tests.run ? repo.filter((m) => m.installable).map((m) => m.name) : [],
    },
    gates,
    backup: env.tier === "production",
    modules: plan,
    switch: { from: env.containerName, toRelease: nextRelease(deps.db, env) },
  };
}

/** `afterCreate`: the env's create job was just queued; the deploy waits behind it on the env lock. */
export async function startDeploy(
  deps: CoordinatorDeps,
  envName: string,
  req: DeployRequest,
  actor: string,
  opts: { afterCreate?: boolean } = {},
): Promise<DeployOutcome> {
  const env = findEnv(deps.db, envName);
  if (!(opts.afterCreate && env.status === "creating")) deployable(deps, env, "deploy");
  projectRepo(deps, env);
  if (req.branch) validateBranch(req.branch);
  if (req.dryRun) return { dryRun: true, plan: await planDeploy(deps, env, req) };
  const row = insertDeployment(deps.db, {
    envId: env.id,
    release: nextRelease(deps.db, env),
    kind: "deploy",
    commitSha: req.sha?.toLowerCase() ?? null,
    branch: req.branch ?? null,
    createdBy: actor,
  });
  const job = deps.jobs.enqueue(deployJob, { envId: env.id, slug: env.slug, deploymentId: row.id }, actor);
  setDeployment(deps.db, row.id, { jobId: job.id });
  deps.audit.record({
    actor,
    action: "deploy",
    target: env.slug,
    details: { deployment: row.id, sha: req.sha ?? null, branch: req.branch ?? null, job: job.id },
  });
  return { dryRun: false, deployment: toDeploymentView(loadDeployment(deps.db, row.id), env), job };
}

/** Successful releases other than the serving one, newest first: what `rollback` can go back to. */
export function listRollbackCandidates(deps: CoordinatorDeps, envName: string): DeploymentView[] {
  const env = findEnv(deps.db, envName);
  return successfulDeployments(deps.db, env.id)
    .filter((d) => d.id !== env.currentDeploymentId && d.image)
    .map((d) => toDeploymentView(d, env));
}

function pickTarget(candidates: DeploymentRow[], to: string | undefined, env: Environment): DeploymentRow {
  if (!to) {
    const previous = candidates[0];
    if (!previous) throw new NotFound(`environment ${env.slug} has no earlier successful deployment to roll back to`);
    return previous;
  }
  const wanted = to.toLowerCase();
  const found =
    candidates.find((d) => d.id === to) ??
    candidates.find((d) => d.commitSha !== null && wanted.length >= 7 && d.commitSha.startsWith(wanted));
  if (!found)
    throw new NotFound(
      `no successful deployment ${to} of ${env.slug} to roll back to (see: odooops rollback ${env.slug} --list)`,
    );
  return found;
}

/** Deployments after `target` that changed the database: rolling back past them runs old code on a newer schema. */
function migrationsSince(deps: CoordinatorDeps, env: Environment, target: DeploymentRow): DeploymentRow[] {
  return (
    envDeployments(deps.db, env.id, 10_000)
      // Failed ones too: outside production a failure after the update keeps the migrated database.
      .filter((d) => d.release > target.release && d.migrated && d.kind === "deploy")
      .sort((a, b) => a.release - b.release)
  );
}

export function startRollback(deps: CoordinatorDeps, envName: string, req: RollbackRequest, actor: string) {
  const env = findEnv(deps.db, envName);
  deployable(deps, env, "rollback");
  const candidates = successfulDeployments(deps.db, env.id).filter((d) => d.id !== env.currentDeploymentId && d.image);
  const target = pickTarget(candidates, req.to, env);
  const migrations = migrationsSince(deps, env, target);
  let restoreBackupId: string | null = null;
  if (migrations.length > 0) {
    const first = migrations[0] as DeploymentRow;
    const what = migrations
      .map(
        (m) =>
          `release ${m.release} (${(m.modulesUpdated ?? []).map((u) => `${u.name} ${u.from ?? "-"}→${u.to}`).join(", ") || "modules installed"})`,
      )
      .join("; ");
    if (!req.restoreDb && !req.keepDb) {
      throw new Conflict(
        `rolling back ${env.slug} to release ${target.release} goes past database migrations: ${what}. ` +
          `Choose --restore-db (restore the backup taken before release ${first.release}${first.backupId ? `: ${first.backupId}` : ", which has none"}; data written since is lost) ` +
          "or --keep-db (old code on the newer database)",
      );
    }
    if (req.restoreDb) {
      if (!first.backupId)
        throw new Conflict(`release ${first.release} has no pre-deploy backup to restore; only --keep-db is possible`);
      restoreBackupId = first.backupId;
    }
  }
  const row = insertDeployment(deps.db, {
    envId: env.id,
    release: nextRelease(deps.db, env),
    kind: "rollback",
    commitSha: target.commitSha,
    branch: target.branch,
    image: target.image,
    moduleChecksums: target.moduleChecksums,
    rollbackOf: target.id,
    backupId: restoreBackupId,
    createdBy: actor,
  });
  const job = deps.jobs.enqueue(rollbackJob, { envId: env.id, slug: env.slug, deploymentId: row.id }, actor);
  setDeployment(deps.db, row.id, { jobId: job.id });
  deps.audit.record({
    actor,
    action: "rollback",
    target: env.slug,
    details: { deployment: row.id, to: target.id, restoreDb: restoreBackupId, job: job.id },
  });
  return { deployment: toDeploymentView(loadDeployment(deps.db, row.id), env), job };
}

export function listDeployments(deps: CoordinatorDeps, envName: string, limit: number): DeploymentView[] {
  const env = findEnv(deps.db, envName);
  return envDeployments(deps.db, env.id, limit).map((d) => toDeploymentView(d, env));
}

export function deploymentView(deps: CoordinatorDeps, id: string): DeploymentView {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw new Invalid(`${JSON.stringify(id)} is not a deployment id`);
  const d = loadDeployment(deps.db, id);
  return toDeploymentView(d, loadEnvById(deps.db, d.envId));
}

/**
 * `deploy approve|reject`: records the decision the deployment's `approval` step is polling for.
 * Admins only (the one role rule so far: approving is what the gate exists to restrict).
 */
export function decideApproval(
  deps: CoordinatorDeps,
  id: string,
  decision: "approved" | "rejected",
  principal: Principal,
  reason: string | null,
): DeploymentView {
  requireRole(principal, "admin", decision === "approved" ? "approve deployments" : "reject deployments");
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw new Invalid(`${JSON.stringify(id)} is not a deployment id`);
  const d = loadDeployment(deps.db, id);
  const waiting = () =>
    new Conflict(
      `deployment ${id} is ${d.status}${d.approvalDecision ? ` (${d.approvalDecision.replace("_", " ")}${d.approvalBy ? ` by ${d.approvalBy}` : ""})` : ""}: only a deployment awaiting approval can be approved or rejected`,
    );
  if (d.status !== "awaiting_approval" || d.approvalDecision) throw waiting();
  if (decision === "approved" && d.createdBy === principal.username && !deps.config.deploy.selfApproval) {
    throw new Forbidden(
      `${principal.username} started deployment ${id}: another admin must approve it (one-person teams: set deploy.selfApproval: true in the server config)`,
    );
  }
  const row = recordApprovalDecision(deps.db, id, decision, principal.username, reason);
  if (!row) throw waiting();
  const env = loadEnvById(deps.db, d.envId);
  deps.audit.record({
    actor: principal.username,
    action: decision === "approved" ? "deploy.approve" : "deploy.reject",
    target: env.slug,
    details: { deployment: id, reason },
  });
  return toDeploymentView(row, env);
}
