/**
 * Pull request previews: env `pr-<n>` (tier dev_ephemeral) created on opened/reopened, the head
 * commit deployed behind the create on the env lock, redeployed on synchronize, destroyed on
 * closed. Only envs recorded in `github_previews` are ever destroyed here, so an env someone
 * named `pr-3` by hand is safe. The PR comment with the preview's URL and commit is one comment,
 * edited in place after each deploy.
 */
import { and, desc, eq, isNull, ne } from "drizzle-orm";
import { startDeploy } from "../deploy/actions";
import { startEnvCreate, startEnvDestroy } from "../env/actions";
import type { CoordinatorDeps } from "../deps";
import { environments, projects, type Environment } from "../env/env.sql";
import { loadEnvById } from "../env/lookup";
import { validateBranch } from "../git/validate";
import { envUrl } from "../env/list";
import type { JobView } from "../jobs/view";
import { Log } from "../log";
import { now } from "../state/columns";
import { GithubClient, upsertComment } from "./client";
import { githubPreviews } from "./github.sql";
import { publicDetail } from "./publish";
import { finalState, jobLogUrl, trackDeployStatus } from "./statuses";
import { errorText } from "../errors";

const log = Log.create("github");
export const PREVIEW_TIER = "dev_ephemeral";
export const previewName = (pr: number) => `pr-${pr}`;

type ProjectRow = typeof projects.$inferSelect;
export type PreviewRow = typeof githubPreviews.$inferSelect;

export interface PullRequestRef {
  /** `owner/name` of the base repository. */
  repo: string;
  number: number;
  sha: string;
  branch: string;
}

export interface PreviewQueued {
  env: string;
  job: JobView;
  deployment?: string;
  createJob?: string;
}

/** The open preview of a PR whose env still exists. */
export function livePreview(
  deps: Pick<CoordinatorDeps, "db">,
  projectId: string,
  repo: string,
  pr: number,
): { preview: PreviewRow; env: Environment } | null {
  const row = deps.db
    .select({ preview: githubPreviews, env: environments })
    .from(githubPreviews)
    .innerJoin(environments, eq(environments.id, githubPreviews.envId))
    .where(
      and(
        eq(githubPreviews.projectId, projectId),
        eq(githubPreviews.repo, repo),
        eq(githubPreviews.prNumber, pr),
        isNull(githubPreviews.closedAt),
        ne(environments.status, "destroyed"),
      ),
    )
    .orderBy(desc(githubPreviews.createdAt))
    .get();
  return row ?? null;
}

/** Every open preview with a live env (what the reconciliation sweep checks against GitHub). */
export function openPreviews(deps: Pick<CoordinatorDeps, "db">): { preview: PreviewRow; env: Environment }[] {
  return deps.db
    .select({ preview: githubPreviews, env: environments })
    .from(githubPreviews)
    .innerJoin(environments, eq(environments.id, githubPreviews.envId))
    .where(and(isNull(githubPreviews.closedAt), ne(environments.status, "destroyed")))
    .all();
}

export function previewOfEnv(deps: Pick<CoordinatorDeps, "db">, envId: string): PreviewRow | null {
  return deps.db.select().from(githubPreviews).where(eq(githubPreviews.envId, envId)).get() ?? null;
}

/** opened/reopened/synchronize: the preview exists (created if needed) and the head commit is queued to deploy. */
export async function deployPreview(
  deps: CoordinatorDeps,
  project: ProjectRow,
  pr: PullRequestRef,
  actor: string,
): Promise<PreviewQueued> {
  let live = livePreview(deps, project.id, pr.repo, pr.number);
  let createJob: JobView | null = null;
  if (!live || live.env.status === "failed") {
    // A failed preview is created again in place (same row, same env id).
    const out = startEnvCreate(
      deps,
      { name: previewName(pr.number), tier: PREVIEW_TIER, project: project.name },
      actor,
    );
    if (out.dryRun) throw new Error("a preview create is never a dry run");
    createJob = out.job;
    if (!live)
      deps.db
        .insert(githubPreviews)
        .values({ projectId: project.id, repo: pr.repo, prNumber: pr.number, envId: out.env.id, headSha: pr.sha })
        .run();
    live = livePreview(deps, project.id, pr.repo, pr.number)!;
  }
  deps.db.update(githubPreviews).set({ headSha: pr.sha }).where(eq(githubPreviews.id, live.preview.id)).run();
  const out = await startDeploy(deps, live.env.slug, { sha: pr.sha, branch: recordableBranch(pr.branch) }, actor, {
    afterCreate: createJob !== null,
  });
  if (out.dryRun) throw new Error("a preview deploy is never a dry run");
  trackDeployStatus(deps, { repo: pr.repo, sha: pr.sha, env: live.env.slug, jobId: out.job.id });
  trackPreviewComment(deps, live.preview.id, pr.sha, out.job.id);
  return {
    env: live.env.slug,
    job: out.job,
    deployment: out.deployment.id,
    ...(createJob ? { createJob: createJob.id } : {}),
  };
}

/** The head branch is only recorded on the deployment (the sha is deployed): a name odooops refuses must not stop the deploy. */
function recordableBranch(branch: string): string | undefined {
  try {
    return validateBranch(branch);
  } catch {
    return undefined;
  }
}

/** The PR is closed (webhook or sweep): its preview's destroy is queued; null when it has none. */
export function closePreview(deps: CoordinatorDeps, preview: PreviewRow, actor: string): PreviewQueued | null {
  const env = loadEnvById(deps.db, preview.envId);
  const closed = () =>
    deps.db.update(githubPreviews).set({ closedAt: now() }).where(eq(githubPreviews.id, preview.id)).run();
  if (env.status === "destroyed") {
    closed();
    return null;
  }
  // Closed only once the destroy is queued: if queueing fails, the next sweep tries again.
  const job = startEnvDestroy(deps, env.slug, { keepDatabase: false }, actor);
  closed();
  log.info("preview destroy queued", { repo: preview.repo, pr: preview.prNumber, env: env.slug, job: job.id });
  // The comment must not keep advertising a URL that is about to stop answering.
  if (preview.commentId !== null)
    commentOnPreview(deps, preview.id, (_p, e) => `**odooops preview** \`${e.slug}\`: removed (pull request closed).`);
  return { env: env.slug, job };
}

/** Comment edits of one preview run one after another, so the first POST's id is stored before a PATCH needs it. */
const commentChains = new Map<string, Promise<unknown>>();

function enqueueComment(previewId: string, work: () => Promise<unknown>): void {
  const chain = (commentChains.get(previewId) ?? Promise.resolve()).then(work).catch((e: unknown) =>
    log.warn("preview comment not updated", {
      preview: previewId,
      error: errorText(e),
    }),
  );
  commentChains.set(previewId, chain);
  void chain.finally(() => {
    if (commentChains.get(previewId) === chain) commentChains.delete(previewId);
  });
}

/** Posts or edits the preview's comment (its id stored on first post); false when GitHub calls are off. */
export function commentOnPreview(
  deps: CoordinatorDeps,
  previewId: string,
  body: (preview: PreviewRow, env: Environment) => string,
): boolean {
  const client = GithubClient.fromConfig(deps);
  if (!client) return false;
  enqueueComment(previewId, async () => {
    const preview = deps.db.select().from(githubPreviews).where(eq(githubPreviews.id, previewId)).get();
    if (!preview) return;
    const id = await upsertComment(
      client,
      preview.repo,
      preview.prNumber,
      preview.commentId,
      body(preview, loadEnvById(deps.db, preview.envId)),
    );
    if (id !== null && id !== preview.commentId)
      deps.db.update(githubPreviews).set({ commentId: id }).where(eq(githubPreviews.id, previewId)).run();
  });
  return true;
}

/** Posts a separate comment (a warning should notify, an edit does not). */
export function notifyPreview(deps: CoordinatorDeps, previewId: string, text: string): boolean {
  const client = GithubClient.fromConfig(deps);
  if (!client) return false;
  enqueueComment(previewId, async () => {
    const preview = deps.db.select().from(githubPreviews).where(eq(githubPreviews.id, previewId)).get();
    if (preview) await upsertComment(client, preview.repo, preview.prNumber, null, text);
  });
  return true;
}

export function previewCommentBody(
  deps: Pick<CoordinatorDeps, "config">,
  env: Environment,
  sha: string,
  outcome: { status: JobView["status"]; error: string | null; jobId: string },
): string {
  const url = envUrl(env, deps.config);
  const logUrl = jobLogUrl(deps.config, outcome.jobId);
  const state =
    finalState(outcome.status) === "success"
      ? "deployed"
      : `deploy ${outcome.status}${outcome.error ? `: ${publicDetail(outcome.error)}` : ""}`;
  return [
    `**odooops preview** \`${env.slug}\`: ${url}`,
    "",
    `Commit \`${sha}\` — ${state}${logUrl ? ` ([log](${logUrl}))` : ""}`,
    ...(env.ttlExpiresAt
      ? ["", `Expires ${env.ttlExpiresAt} (\`odooops env extend ${env.slug} --ttl 3d\` to keep it longer).`]
      : []),
  ].join("\n");
}

/** When the deploy job ends, the preview's comment shows its URL, the commit and how it went. */
function trackPreviewComment(deps: CoordinatorDeps, previewId: string, sha: string, jobId: string): void {
  const unsubscribe = deps.jobs.events.subscribe(jobId, (ev) => {
    if (ev.type !== "job" || !finalState(ev.status)) return;
    unsubscribe();
    commentOnPreview(deps, previewId, (_preview, env) =>
      previewCommentBody(deps, env, sha, { status: ev.status, error: ev.error ?? null, jobId }),
    );
  });
}
