/**
 * `policy show` behind the API: the project's effective policy and, for one env, what it means
 * there (gates, quota, TTL, storage — measured where the env runs: an agent's env by its agent). Here rather than in policy/ because it reads envs and
 * projects: policy/ stays below env/.
 */
import { eq } from "drizzle-orm";
import type { Deps } from "../deps";
import { planGates } from "../policy/gates";
import { latestPolicyRow, policyOfRow } from "../policy/load";
import { storageState } from "../policy/quota";
import type { EffectivePolicyView } from "../policy/view";
import { diskWhereItRuns } from "./detail";
import { projects } from "./env.sql";
import { findEnv } from "./lookup";
import { resolveProject } from "./projects";

export async function effectivePolicyView(
  deps: Pick<Deps, "db" | "config" | "paths">,
  q: { project?: string; env?: string },
): Promise<EffectivePolicyView> {
  const env = q.env ? findEnv(deps.db, q.env) : null;
  const project = env ? resolveProjectById(deps, env.projectId) : resolveProject(deps.db, q.project);
  const row = latestPolicyRow(deps.db, project.id);
  const source = row?.source === "repo" ? "repo" : "default";
  const policy = policyOfRow(row);
  let envView: EffectivePolicyView["env"] = null;
  if (env) {
    const quota = policy.resource_quotas[env.tier] ?? {};
    envView = {
      name: env.slug,
      tier: env.tier,
      gates: planGates(policy, env.tier, deps.config.deploy, source),
      quota,
      ttl: policy.ttl_policies[env.tier] ?? null,
      limits: { workers: env.workers, cpus: Number(env.cpus), memoryMb: env.memoryMb },
      storage: storageState(await diskWhereItRuns(deps, env), quota),
    };
  }
  return { project: project.name, source, commit: row?.commitSha ?? null, policy, env: envView };
}

function resolveProjectById(deps: Pick<Deps, "db">, id: string) {
  return deps.db.select().from(projects).where(eq(projects.id, id)).get() ?? resolveProject(deps.db, undefined);
}
