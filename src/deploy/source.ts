/**
 * What a deployment deploys: the commit (fetched into the host's mirror of the project's repo),
 * the addons in it, and what the env's database has installed — the inputs of the module plan.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { seriesOf } from "../db/backup";
import { Invalid } from "../errors";
import { projects, type Environment } from "../env/env.sql";
import { projectRepoUrl } from "../env/projects";
import { envDbLogin } from "../env/tenant-login";
import { exportTree, resolveCommit, syncMirror } from "../git/mirror";
import { recentRefs } from "../git/refs";
import { validateBranch } from "../git/validate";
import type { Deps } from "../deps";
import { eq } from "drizzle-orm";
import type { Policy } from "../policy/schema";
import { readRepoModules, type RepoModule } from "../odoo/manifest";
import { installedModules } from "../odoo/modules";
import { planModuleUpdates, repoModulesToInstall, type ModulePlan } from "./modules";
import { successfulDeployments } from "./records";
import type { DeployChoices } from "./schema";

export interface SourceRef {
  sha?: string | null;
  branch?: string | null;
}

export function projectRepo(
  deps: Pick<Deps, "db" | "box">,
  env: Environment,
): { url: string; project: string; defaultBranch: string } {
  const project = deps.db.select().from(projects).where(eq(projects.id, env.projectId)).get();
  const url = project ? projectRepoUrl(project, deps.box) : null;
  if (!project || url === null) {
    const name = project?.name ?? "default";
    throw new Invalid(
      `project ${name} of environment ${env.slug} has no git repository; set one: odooops project set ${name} --repo <url>`,
    );
  }
  return { url, project: project.name, defaultBranch: project.defaultBranch };
}

/** The env's project (its default branch is where the policy is read). */
export function projectOf(deps: Pick<Deps, "db">, env: Environment): typeof projects.$inferSelect {
  const project = deps.db.select().from(projects).where(eq(projects.id, env.projectId)).get();
  if (!project) throw new Invalid(`environment ${env.slug} has no project`);
  return project;
}

/** The branch a deploy follows: the one asked for, else the env's, else the project's default. */
export function deployBranch(deps: Pick<Deps, "db" | "box">, env: Environment, ref: SourceRef): string {
  return validateBranch(ref.branch ?? env.branch ?? projectRepo(deps, env).defaultBranch);
}

export async function fetchCommit(
  deps: Deps,
  env: Environment,
  ref: SourceRef,
  io: { log(line: string): void; signal?: AbortSignal },
): Promise<{ mirror: string; sha: string; branch: string | null }> {
  const { url } = projectRepo(deps, env);
  const mirror = await syncMirror({ reposDir: deps.paths.gitCacheDir, url, signal: io.signal, log: io.log });
  const branch = ref.sha ? null : deployBranch(deps, env, ref);
  const sha = await resolveCommit(mirror, ref.sha ? { sha: ref.sha } : { branch: branch ?? undefined });
  return { mirror, sha, branch };
}

/** The picker's lists: the mirror is synced first, so a branch pushed a minute ago is there. */
export async function deployChoices(deps: Deps, env: Environment, count: number): Promise<DeployChoices> {
  const { url } = projectRepo(deps, env);
  const mirror = await syncMirror({ reposDir: deps.paths.gitCacheDir, url });
  const branch = deployBranch(deps, env, {});
  return { branch, ...(await recentRefs(mirror, branch, count)) };
}

export function adminLogin(deps: Pick<Deps, "config">) {
  const { host, port, user, password } = deps.config.postgres;
  return { host, port, user, password };
}

/** The addons of `sha`, read from an exported tree that is removed afterwards. */
export async function repoModulesAt(
  deps: Pick<Deps, "paths">,
  mirror: string,
  sha: string,
  series: string,
  key: string,
): Promise<RepoModule[]> {
  const dir = join(deps.paths.workDir, `tree-${key}`);
  rmSync(dir, { recursive: true, force: true });
  try {
    await exportTree(mirror, sha, dir);
    return readRepoModules(dir, series);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ModuleInputs {
  repo: RepoModule[];
  plan: ModulePlan;
}

/** Repo modules at the commit and what to update/install in the env's database. */
export async function planModules(
  deps: Deps,
  env: Environment,
  mirror: string,
  sha: string,
  previousChecksums: Record<string, string> | null,
  key: string,
  installPolicy: Policy["install_modules"],
): Promise<ModuleInputs> {
  const installed = await installedModules(envDbLogin(deps, env));
  const repo = await repoModulesAt(deps, mirror, sha, seriesOf(installed, env.odooImage), key);
  const firstDeploy = successfulDeployments(deps.db, env.id).length === 0;
  const install = [
    ...new Set([
      ...env.modules,
      ...deps.config.deploy.install,
      ...repoModulesToInstall(installPolicy, repo, firstDeploy),
    ]),
  ];
  return { repo, plan: planModuleUpdates({ repo, installed, previousChecksums, install }) };
}
