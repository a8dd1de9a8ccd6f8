/**
 * The policy's part in a deployment, decided in the `source` step (before anything is built):
 * the policy at the head of the project's default branch, never the deployed commit's (an invalid
 * file fails here), the storage quota (above it, no deploy),
 * the env's limits capped by the resource quota (container and odoo.conf of the new release), and
 * the gate plan stored on the deployment for the later steps.
 */
import { envDiskUse } from "../env/detail";
import { recordLimits } from "../env/state";
import { odooConfFor, writeOdooConf } from "../env/odoo-conf";
import { envResources } from "../env/resources";
import type { Environment } from "../env/env.sql";
import type { Deps } from "../deps";
import { describeGates } from "./describe";
import { type GatePlan, planGates } from "../policy/gates";
import { assertStorageWithinQuota, capLimits } from "../policy/quota";
import { type PolicyProject, refreshProjectPolicy } from "../policy/repo";
import type { Policy, ResourceQuota } from "../policy/schema";
import { setDeployment } from "./records";

export async function applyPolicy(
  deps: Deps,
  env: Environment,
  project: PolicyProject,
  deploymentId: string,
  mirror: string,
  log: (line: string) => void,
): Promise<{ gates: GatePlan; installModules: Policy["install_modules"] }> {
  const { policy, source, commit } = await refreshProjectPolicy(deps.db, project, mirror);
  const at = `${project.defaultBranch} at ${commit.slice(0, 12)}`;
  log(
    source === "repo"
      ? `policy: .odooops/policies.yaml of the default branch ${at}`
      : `policy: the server default (no .odooops/policies.yaml on the default branch ${at})`,
  );
  const quota = policy.resource_quotas[env.tier];
  assertStorageWithinQuota(env.slug, env.tier, await envDiskUse(deps, env), quota);
  capEnvLimits(deps, env, quota, log);
  const gates = planGates(policy, env.tier, deps.config.deploy, source);
  setDeployment(deps.db, deploymentId, { gates });
  log(`gates (${env.tier}): ${describeGates(gates)}`);
  return { gates, installModules: policy.install_modules };
}

/** Lowers the env's workers/cpus/memory to the quota; the new release's container and odoo.conf use them. */
function capEnvLimits(
  deps: Deps,
  env: Environment,
  quota: ResourceQuota | undefined,
  log: (line: string) => void,
): void {
  const current = { workers: env.workers, cpus: Number(env.cpus), memoryMb: env.memoryMb };
  const capped = capLimits(current, quota);
  if (capped.workers === current.workers && capped.cpus === current.cpus && capped.memoryMb === current.memoryMb)
    return;
  const row = recordLimits(deps.db, env.id, capped);
  // Odoo reads its conf at boot only: the serving release keeps its settings until it is replaced.
  writeOdooConf(deps, envResources(env, deps).confFile, odooConfFor(deps, row));
  log(
    `resource quota (${env.tier}): workers ${current.workers} → ${capped.workers}, cpus ${current.cpus} → ${capped.cpus}, memory ${current.memoryMb} → ${capped.memoryMb} MiB`,
  );
}
