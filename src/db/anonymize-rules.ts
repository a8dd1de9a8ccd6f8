/**
 * Which anonymization rules a copy gets, in layers, each merged over the one before:
 *   the shipped defaults < the host's rules file (config `anonymize.rulesFile`) < the source
 *   project's `.odooops/anonymize.yaml` < a file given for one run (`db clone --rules FILE`).
 * The project file is read at the commit the source env serves (the data was written by that
 * code, so its rules describe that schema), else at the head of the project's default branch,
 * from the host's git mirror; a project without a repository simply has no such layer, which is
 * why the host file exists. The job log names every layer used.
 */
import { existsSync, readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { parseYamlDocument } from "../yaml-doc";
import { deployments } from "../deploy/deploy.sql";
import { projects, type Environment } from "../env/env.sql";
import { Invalid, errorText, errnoText } from "../errors";
import { displayUrl } from "../git/commands";
import { mirrorPath, parseFileAt, resolveCommit, syncMirror } from "../git/mirror";
import { validateRepoUrl } from "../git/validate";
import type { Deps } from "../deps";
import { projectRepoUrl } from "../env/projects";
import {
  AnonymizeOverrideSchema,
  defaultRules,
  mergeOverride,
  type AnonymizeOverride,
  type AnonymizeRules,
} from "./backup/anonymize";

export const ANONYMIZE_FILE = ".odooops/anonymize.yaml";
const DEFAULTS = "templates/anonymize-default.yaml";
const WHAT = "anonymization rules";

export interface RulesChoice {
  rules: AnonymizeRules;
  /** Every layer used, lowest first, for the job log. */
  sources: string[];
  /** `sources` as one line. */
  from: string;
}

/** A rules file given for one run: its text travels in the request, validated by the daemon. */
export interface OneRunRules {
  text: string;
  /** The name the user gave (named in every problem: `file:line: key.path: problem`). */
  file: string;
}

/** One override document, validated: every problem as `file:line: key.path: problem`. */
export function parseRulesOverride(text: string, file: string): AnonymizeOverride {
  return parseYamlDocument(AnonymizeOverrideSchema, text, file, WHAT);
}

/**
 * The host's rules file (`anonymize.rulesFile`), validated. Called when the config loads, so a
 * broken file stops the daemon at start with the file's own line, not a clone hours later.
 */
export function readHostRules(path: string): AnonymizeOverride {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Invalid(`anonymize.rulesFile: cannot read ${path}: ${errnoText(e)}`);
  }
  return parseRulesOverride(text, path);
}

function servedCommit(deps: Pick<Deps, "db">, env: Environment): string | null {
  if (!env.currentDeploymentId) return null;
  return (
    deps.db
      .select({ sha: deployments.commitSha })
      .from(deployments)
      .where(eq(deployments.id, env.currentDeploymentId))
      .get()?.sha ?? null
  );
}

type Io = { log(line: string): void; signal?: AbortSignal };

/**
 * The mirror, fetched; when the remote cannot be reached, the mirror as last fetched: the commit
 * an env serves was deployed from it, and an outage of the git host must not block every clone.
 */
async function fetchedMirror(deps: Pick<Deps, "paths">, url: string, io: Io): Promise<string> {
  try {
    return await syncMirror({ reposDir: deps.paths.gitCacheDir, url, signal: io.signal, log: io.log });
  } catch (e) {
    const mirror = mirrorPath(deps.paths.gitCacheDir, validateRepoUrl(url));
    if (io.signal?.aborted || !existsSync(mirror)) throw e;
    io.log(`could not fetch ${displayUrl(url)} (${errorText(e)}); reading the mirror as last fetched`);
    return mirror;
  }
}

type Layer = { override: AnonymizeOverride; source: string } | { override: null; source: string };

/** The project's layer, or why there is none (said in the log all the same). */
async function projectLayer(deps: Pick<Deps, "db" | "paths" | "box">, source: Environment, io: Io): Promise<Layer> {
  const project = deps.db.select().from(projects).where(eq(projects.id, source.projectId)).get();
  const url = project ? projectRepoUrl(project, deps.box) : null;
  if (!project || url === null)
    return { override: null, source: `no ${ANONYMIZE_FILE} (project ${project?.name ?? "?"} has no repository)` };
  const mirror = await fetchedMirror(deps, url, io);
  const served = servedCommit(deps, source);
  const sha = await resolveCommit(mirror, served ? { sha: served } : { branch: project.defaultBranch });
  const at = `${sha.slice(0, 12)}, ${served ? `the commit ${source.slug} serves` : `the head of ${project.defaultBranch} (${source.slug} serves no deployed commit)`}`;
  const file = await parseFileAt(mirror, sha, ANONYMIZE_FILE, (text) => parseRulesOverride(text, ANONYMIZE_FILE));
  if (!file) return { override: null, source: `no ${ANONYMIZE_FILE} at ${at}` };
  return { override: file.value, source: `${ANONYMIZE_FILE} at ${at}` };
}

/** Merges the layers over the defaults, lowest first; `null` layers are only named. */
export function mergeRuleLayers(layers: Layer[]): RulesChoice {
  let rules = defaultRules();
  const sources = [DEFAULTS];
  for (const l of layers) {
    if (l.override) rules = mergeOverride(rules, l.override);
    sources.push(l.source);
  }
  return { rules, sources, from: sources.join(" < ") };
}

/** The rules a copy of `source` gets (see the file comment); `oneRun`: `db clone --rules FILE`. */
export async function anonymizeRulesFor(
  deps: Pick<Deps, "db" | "paths" | "box" | "config">,
  source: Environment,
  io: Io,
  oneRun?: OneRunRules | null,
): Promise<RulesChoice> {
  const layers: Layer[] = [];
  const host = deps.config.anonymize.rulesFile;
  if (host) layers.push({ override: readHostRules(host), source: `${host} (host rules file, anonymize.rulesFile)` });
  layers.push(await projectLayer(deps, source, io));
  if (oneRun)
    layers.push({
      override: parseRulesOverride(oneRun.text, oneRun.file),
      source: `${oneRun.file} (--rules, this run only)`,
    });
  return mergeRuleLayers(layers);
}
