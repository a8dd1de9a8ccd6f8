/** `policy show` and `policy validate` behind the API: the CLI only renders. */
import { eq } from "drizzle-orm";
import { projects } from "../env/env.sql";
import type { Deps } from "../deps";
import { envDiskUse } from "../env/detail";
import { findEnv } from "../env/lookup";
import { resolveProject } from "../env/projects";
import { planGates } from "./gates";
import { latestPolicyRow, policyOfRow, POLICY_FILE } from "./load";
import { storageState } from "./quota";
import { checkPolicy } from "./schema";
import type { EffectivePolicyView, PolicyValidation } from "./view";

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
      storage: storageState(await envDiskUse(deps, env), quota),
    };
  }
  return { project: project.name, source, commit: row?.commitSha ?? null, policy, env: envView };
}

function resolveProjectById(deps: Pick<Deps, "db">, id: string) {
  return deps.db.select().from(projects).where(eq(projects.id, id)).get() ?? resolveProject(deps.db, undefined);
}

export function validatePolicy(text: string, file = POLICY_FILE): PolicyValidation {
  const checked = checkPolicy(text, file);
  return checked.ok
    ? { ok: true, problems: [], policy: checked.policy }
    : { ok: false, problems: checked.problems, policy: null };
}
