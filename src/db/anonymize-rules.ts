/**
 * Which anonymization rules a copy gets: the shipped defaults, overridden by the source project's
 * `.odooops/anonymize.yaml` at the commit the source env serves (the data was written by that
 * code, so its rules describe that schema), else at the head of the project's default branch.
 * Read from the host's git mirror; a project without a repository uses the defaults.
 */
import { existsSync } from "node:fs";
import { eq } from "drizzle-orm";
import { deployments } from "../deploy/deploy.sql";
import { projects } from "../env/env.sql";
import type { EnvRow } from "../env/service";
import { displayUrl } from "../git/commands";
import { mirrorPath, parseFileAt, resolveCommit, syncMirror } from "../git/mirror";
import { validateRepoUrl } from "../git/validate";
import type { JobDeps } from "../jobs/define";
import { projectRepoUrl } from "../env/projects";
import { type AnonymizeRules, loadAnonymizeRules } from "./backup";

export const ANONYMIZE_FILE = ".odooops/anonymize.yaml";
const DEFAULTS = "templates/anonymize-default.yaml";

export interface RulesChoice {
  rules: AnonymizeRules;
  /** Where the rules came from, for the job log. */
  from: string;
}

function servedCommit(deps: Pick<JobDeps, "db">, env: EnvRow): string | null {
  if (!env.currentDeploymentId) return null;
  return deps.db.select({ sha: deployments.commitSha }).from(deployments).where(eq(deployments.id, env.currentDeploymentId)).get()?.sha ?? null;
}

type Io = { log(line: string): void; signal?: AbortSignal };

/**
 * The mirror, fetched; when the remote cannot be reached, the mirror as last fetched: the commit
 * an env serves was deployed from it, and an outage of the git host must not block every clone.
 */
async function fetchedMirror(deps: Pick<JobDeps, "paths">, url: string, io: Io): Promise<string> {
  try {
    return await syncMirror({ reposDir: deps.paths.gitCacheDir, url, signal: io.signal, log: io.log });
  } catch (e) {
    const mirror = mirrorPath(deps.paths.gitCacheDir, validateRepoUrl(url));
    if (io.signal?.aborted || !existsSync(mirror)) throw e;
    io.log(`could not fetch ${displayUrl(url)} (${e instanceof Error ? e.message : String(e)}); reading the mirror as last fetched`);
    return mirror;
  }
}

export async function anonymizeRulesFor(deps: Pick<JobDeps, "db" | "paths" | "box">, source: EnvRow, io: Io): Promise<RulesChoice> {
  const project = deps.db.select().from(projects).where(eq(projects.id, source.projectId)).get();
  const url = project ? projectRepoUrl(project, deps.box) : null;
  if (!project || url === null) return { rules: loadAnonymizeRules(), from: `${DEFAULTS} (project ${project?.name ?? "?"} has no repository)` };
  const mirror = await fetchedMirror(deps, url, io);
  const served = servedCommit(deps, source);
  const sha = await resolveCommit(mirror, served ? { sha: served } : { branch: project.defaultBranch });
  const at = `${sha.slice(0, 12)}, ${served ? `the commit ${source.slug} serves` : `the head of ${project.defaultBranch} (${source.slug} serves no deployed commit)`}`;
  const file = await parseFileAt(mirror, sha, ANONYMIZE_FILE, (text) => loadAnonymizeRules(text, ANONYMIZE_FILE));
  if (!file) return { rules: loadAnonymizeRules(), from: `${DEFAULTS} (no ${ANONYMIZE_FILE} at ${at})` };
  return { rules: file.value, from: `${ANONYMIZE_FILE} at ${at}, over ${DEFAULTS}` };
}
