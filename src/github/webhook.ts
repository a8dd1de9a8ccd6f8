/**
 * The GitHub webhook: authenticated by the per-project HMAC secret, acted on once per delivery id,
 * and fast — a push or a pull request only records rows and enqueues jobs (create, deploy,
 * destroy); the work happens in the jobs, GitHub calls in the background.
 */
import { eq } from "drizzle-orm";
import { startDeploy } from "../deploy/actions";
import { startEnvCreate } from "../env/actions";
import type { CoordinatorDeps } from "../deps";
import { projects, type Environment } from "../env/env.sql";
import { findEnv } from "../env/lookup";
import { AppError, Invalid, NotFound, Unauthorized } from "../errors";
import type { JobView } from "../jobs/view";
import { Log } from "../log";
import { projectPolicy } from "../policy/load";
import { type BranchTarget, mapBranch } from "../policy/match";
import { githubDeliveries } from "./github.sql";
import { AnyEvent, PullRequestEvent, PushEvent, repositoryUrls, ZERO_SHA } from "./payload";
import { closePreview, deployPreview, livePreview } from "./previews";
import { repoKey } from "./repo-url";
import { replayedDelivery } from "./replay";
import { signatureValid } from "./signature";
import { trackDeployStatus } from "./statuses";

const log = Log.create("github");
export const WEBHOOK_ACTOR = "github-webhook";

export interface WebhookRequest {
  event: string | undefined;
  delivery: string | undefined;
  signature: string | undefined;
  body: Uint8Array;
  /** `?project=`: picks the project directly instead of by the payload's repository URL. */
  project: string | undefined;
  ip: string | null;
}

export type WebhookResult =
  | { status: 200; body: { result: "pong" | "duplicate" | "ignored"; reason?: string; delivery: string } }
  | {
      status: 202;
      body: { result: "queued"; delivery: string; env: string; job: string; deployment?: string; createJob?: string };
    };

type ProjectRow = typeof projects.$inferSelect;

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
}

/** Projects whose secret may have signed this delivery: the one named by `?project=`, else every project with a secret. */
function signers(deps: CoordinatorDeps, req: WebhookRequest): ProjectRow[] {
  if (req.project !== undefined) {
    const p = deps.db.select().from(projects).where(eq(projects.name, req.project)).get();
    if (!p) deny(deps, req, `no project ${req.project}`, req.project);
    if (p.webhookSecretEnc === null)
      deny(
        deps,
        req,
        `project ${p.name} has no webhook secret (set it with \`odooops project set ${p.name} --webhook-secret-file <file>\`)`,
        p.name,
      );
    return [p];
  }
  const all = deps.db
    .select()
    .from(projects)
    .all()
    .filter((p) => p.webhookSecretEnc !== null);
  if (all.length === 0)
    deny(
      deps,
      req,
      "no project has a webhook secret (set it with `odooops project set <name> --webhook-secret-file <file>`)",
      null,
    );
  return all;
}

function deny(deps: CoordinatorDeps, req: WebhookRequest, reason: string, target: string | null): never {
  deps.audit.record({
    actor: WEBHOOK_ACTOR,
    action: "webhook.github",
    target,
    outcome: "denied",
    ip: req.ip,
    details: { reason, event: req.event ?? null, delivery: req.delivery ?? null },
  });
  throw new Unauthorized(`webhook rejected: ${reason}`);
}

/**
 * The signature is checked over the raw bytes before anything reads them: an unauthenticated body
 * is never parsed. The payload's repository then picks among the projects whose secret signed it
 * (several may share one), unless `?project=` named it.
 */
function authenticate(deps: CoordinatorDeps, req: WebhookRequest): { project: ProjectRow; payload: unknown } {
  if (!req.signature) deny(deps, req, "missing X-Hub-Signature-256 header", req.project ?? null);
  const pool = signers(deps, req);
  const signed = pool.filter((p) => signatureValid(deps.box.open(p.webhookSecretEnc!), req.body, req.signature));
  if (signed.length === 0)
    deny(
      deps,
      req,
      `X-Hub-Signature-256 does not match the webhook secret of ${req.project !== undefined ? `project ${req.project}` : "any project"}`,
      req.project ?? null,
    );
  const payload = parseJson(req.body);
  if (payload === undefined) throw new Invalid("webhook body is not JSON");
  if (req.project !== undefined) return { project: signed[0], payload };
  const parsed = AnyEvent.safeParse(payload);
  const keys = new Set((parsed.success ? repositoryUrls(parsed.data) : []).map(repoKey).filter((k) => k !== null));
  const project = signed.find((p) => p.repoUrl !== null && keys.has(repoKey(p.repoUrl) ?? ""));
  if (!project)
    deny(
      deps,
      req,
      "no project has this repository (set it with `odooops project set <name> --repo <url>`, or add ?project=<name> to the webhook URL)",
      signed[0].name,
    );
  return { project, payload };
}

export async function receiveGithubWebhook(deps: CoordinatorDeps, req: WebhookRequest): Promise<WebhookResult> {
  const { project, payload } = authenticate(deps, req);
  const delivery = req.delivery;
  if (!delivery || !/^[A-Za-z0-9-]{1,100}$/.test(delivery))
    throw new Invalid("missing or malformed X-GitHub-Delivery header");
  if (!req.event || !/^[a-z_]{1,60}$/.test(req.event)) throw new Invalid("missing or malformed X-GitHub-Event header");
  const fresh = deps.db
    .insert(githubDeliveries)
    .values({ deliveryId: delivery, projectId: project.id, event: req.event })
    .onConflictDoNothing()
    .returning()
    .get();
  if (!fresh) return { status: 200, body: { result: "duplicate", delivery } };

  let result: WebhookResult;
  try {
    result = await act(deps, project, req.event, payload, delivery);
  } catch (e) {
    // Not acted on: GitHub's redelivery of this id must get another chance.
    deps.db.delete(githubDeliveries).where(eq(githubDeliveries.deliveryId, delivery)).run();
    throw e;
  }
  const outcome =
    result.status === 202
      ? queuedOutcome(result.body)
      : result.body.reason
        ? `${result.body.result}: ${result.body.reason}`
        : result.body.result;
  deps.db.update(githubDeliveries).set({ outcome }).where(eq(githubDeliveries.deliveryId, delivery)).run();
  log.info("webhook", { project: project.name, event: req.event, delivery, outcome });
  return result;
}

function queuedOutcome(body: { env: string; job: string; deployment?: string; createJob?: string }): string {
  const create = body.createJob ? `created ${body.env} (job ${body.createJob}), ` : "";
  return body.deployment
    ? `${create}queued deployment ${body.deployment} on ${body.env}`
    : `queued job ${body.job} on ${body.env}`;
}

const ignoredBy =
  (delivery: string) =>
  (reason: string): WebhookResult => ({ status: 200, body: { result: "ignored", reason, delivery } });

async function act(
  deps: CoordinatorDeps,
  project: ProjectRow,
  event: string,
  payload: unknown,
  delivery: string,
): Promise<WebhookResult> {
  const ignored = ignoredBy(delivery);
  if (event === "ping") return { status: 200, body: { result: "pong", delivery } };
  if (event === "pull_request") return onPullRequest(deps, project, payload, delivery);
  if (event !== "push") return ignored(`event ${event} is not handled`);
  const push = PushEvent.safeParse(payload);
  if (!push.success) return ignored("push payload without ref/after");
  const { ref, after, deleted, repository } = push.data;
  if (!ref.startsWith("refs/heads/")) return ignored(`${ref} is not a branch`);
  if (deleted || after === ZERO_SHA) return ignored(`branch ${ref.slice(11)} was deleted`);
  const branch = ref.slice("refs/heads/".length);
  const pushedAt = typeof repository.pushed_at === "number" ? repository.pushed_at : null;
  const replayed = replayedDelivery(deps.db, project.id, delivery, {
    event: "push",
    key: branch,
    sha: after,
    at: pushedAt,
  });
  if (replayed) return ignoredReplay(project, delivery, replayed);
  return deployPush(deps, project, { branch, sha: after, repo: repository.full_name ?? null }, delivery);
}

function ignoredReplay(project: ProjectRow, delivery: string, reason: string): WebhookResult {
  log.warn("replayed delivery not acted on", { project: project.name, delivery, reason });
  return ignoredBy(delivery)(reason);
}

async function deployPush(
  deps: CoordinatorDeps,
  project: ProjectRow,
  push: { branch: string; sha: string; repo: string | null },
  delivery: string,
): Promise<WebhookResult> {
  const { branch, sha } = push;
  const ignored = ignoredBy(delivery);
  try {
    const target = mapBranch(projectPolicy(deps.db, project.id), branch);
    if (!target) return ignored(`no branch mapping matches ${branch}`);
    const existing = liveEnv(deps, target.envName);
    const mismatch = existing ? ruleMismatch(project, existing, target, branch) : null;
    if (mismatch) return ignored(mismatch);
    let created: { slug: string; job: JobView } | null = null;
    if (!existing && target.rule.create) {
      if (!project.repoUrl) return ignored(noRepository(project));
      const out = startEnvCreate(
        deps,
        { name: target.envName, tier: target.rule.tier, branch, project: project.name },
        WEBHOOK_ACTOR,
      );
      if (out.dryRun) throw new Error("a webhook create is never a dry run");
      created = { slug: out.env.slug, job: out.job };
    }
    if (!target.rule.auto_deploy) {
      if (created)
        return {
          status: 202,
          body: { result: "queued", delivery, env: created.slug, job: created.job.id, createJob: created.job.id },
        };
      return ignored(`branch mapping ${target.index} (${target.rule.pattern}) has auto_deploy off`);
    }
    const env = existing ?? findEnv(deps.db, target.envName);
    const out = await startDeploy(deps, env.slug, { sha, branch }, WEBHOOK_ACTOR, { afterCreate: created !== null });
    if (out.dryRun) throw new Error("a webhook deploy is never a dry run");
    if (push.repo) trackDeployStatus(deps, { repo: push.repo, sha, env: env.slug, jobId: out.job.id });
    return {
      status: 202,
      body: {
        result: "queued",
        delivery,
        env: env.slug,
        deployment: out.deployment.id,
        job: out.job.id,
        ...(created ? { createJob: created.job.id } : {}),
      },
    };
  } catch (e) {
    if (e instanceof AppError && e.status < 500) return ignored(e.message);
    throw e;
  }
}

/**
 * A rule names an env by template (`{branch}`): a pushed branch named like an existing env must
 * not reach it. The env is deployed only when it is of this project, of the rule's tier, and
 * follows the pushed branch (an env without a branch follows the project's default branch).
 */
function ruleMismatch(project: ProjectRow, env: Environment, target: BranchTarget, branch: string): string | null {
  const rule = `branch mapping ${target.index} (${target.rule.pattern})`;
  if (env.projectId !== project.id) return `environment ${env.slug} belongs to another project`;
  if (env.tier !== target.rule.tier)
    return `environment ${env.slug} is ${env.tier} but ${rule} is for ${target.rule.tier}: not deployed`;
  const follows = env.branch ?? project.defaultBranch;
  if (follows !== branch)
    return `environment ${env.slug} follows branch ${follows}, not ${branch}: ${rule} does not deploy to it`;
  return null;
}

const noRepository = (project: ProjectRow) =>
  `project ${project.name} has no git repository; set one: odooops project set ${project.name} --repo <url>`;

function liveEnv(deps: CoordinatorDeps, name: string): Environment | null {
  try {
    return findEnv(deps.db, name);
  } catch (e) {
    if (e instanceof NotFound) return null;
    throw e;
  }
}

const PREVIEW_ACTIONS = new Set(["opened", "reopened", "synchronize"]);

async function onPullRequest(
  deps: CoordinatorDeps,
  project: ProjectRow,
  payload: unknown,
  delivery: string,
): Promise<WebhookResult> {
  const ignored = ignoredBy(delivery);
  const parsed = PullRequestEvent.safeParse(payload);
  if (!parsed.success) return ignored("pull_request payload without number/head/repository");
  const { action, number, pull_request: pr, repository } = parsed.data;
  const repo = repository.full_name;
  const updatedAt = pr.updated_at ? Math.floor(Date.parse(pr.updated_at) / 1000) : null;
  const replayed = replayedDelivery(deps.db, project.id, delivery, {
    event: "pull_request",
    key: `${repo}#${number}`,
    sha: pr.head.sha,
    at: Number.isFinite(updatedAt) ? updatedAt : null,
  });
  if (replayed) return ignoredReplay(project, delivery, replayed);
  try {
    if (action === "closed") {
      const live = livePreview(deps, project.id, repo, number);
      if (!live) return ignored(`pull request #${number} has no preview`);
      const out = closePreview(deps, live.preview, WEBHOOK_ACTOR);
      if (!out) return ignored(`preview of #${number} is already gone`);
      return { status: 202, body: { result: "queued", delivery, env: out.env, job: out.job.id } };
    }
    if (!PREVIEW_ACTIONS.has(action)) return ignored(`pull_request action ${action} is not handled`);
    const from = pr.head.repo?.full_name ?? null;
    if (from !== repo && !deps.config.github.previewForks) {
      return ignored(
        `pull request #${number} comes from ${from ?? "a deleted fork"}: a preview runs the PR's code on this host, so forks get none (config github.previewForks)`,
      );
    }
    // Checked before anything is created: a preview that can never be deployed is not worth a create.
    if (!project.repoUrl) return ignored(noRepository(project));
    const out = await deployPreview(
      deps,
      project,
      { repo, number, sha: pr.head.sha, branch: pr.head.ref },
      WEBHOOK_ACTOR,
    );
    return {
      status: 202,
      body: {
        result: "queued",
        delivery,
        env: out.env,
        job: out.job.id,
        ...(out.deployment ? { deployment: out.deployment } : {}),
        ...(out.createJob ? { createJob: out.createJob } : {}),
      },
    };
  } catch (e) {
    if (e instanceof AppError && e.status < 500) return ignored(e.message);
    throw e;
  }
}
