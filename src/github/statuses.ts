/**
 * Commit statuses (`odooops/deployment`) for deploys a push started: pending when queued, the
 * outcome when the job ends. Posted in the background with retries; a GitHub outage costs a
 * status, never a deploy. Statuses follow the job's events in this process, so a coordinator
 * restart mid-deploy loses the final status of that deploy.
 */
import { readFileSync } from "node:fs";
import type { Config } from "../config/schema";
import type { JobService } from "../jobs/service";
import type { JobView } from "../jobs/view";
import { Log } from "../log";

const log = Log.create("github");
export const STATUS_CONTEXT = "odooops/deployment";
const REPO_NAME = /^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/;

export type CommitState = "pending" | "success" | "failure" | "error";

export interface StatusTarget {
  /** `owner/name`. */
  repo: string;
  sha: string;
  env: string;
  jobId: string;
}

export interface StatusDeps {
  config: Pick<Config, "github" | "publicUrl">;
  jobs: Pick<JobService, "events">;
  fetch?: typeof fetch;
}

const retryable = (status: number) => status >= 500 || status === 429;

/** One status, retried with doubling delays on network errors, 5xx and 429; false when given up. */
export async function postCommitStatus(deps: StatusDeps, token: string, target: StatusTarget, state: CommitState, description: string): Promise<boolean> {
  const { apiUrl, statusAttempts, retryBaseMs } = deps.config.github;
  const url = `${apiUrl.replace(/\/+$/, "")}/repos/${target.repo}/statuses/${target.sha}`;
  const body = JSON.stringify({
    state,
    context: STATUS_CONTEXT,
    description: description.slice(0, 140),
    ...(deps.config.publicUrl ? { target_url: `${deps.config.publicUrl.replace(/\/+$/, "")}/api/v1/jobs/${target.jobId}/log` } : {}),
  });
  const headers = { authorization: `Bearer ${token}`, accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28", "content-type": "application/json", "user-agent": "odooops" };
  for (let attempt = 1; attempt <= statusAttempts; attempt++) {
    let problem: string;
    try {
      const res = await (deps.fetch ?? fetch)(url, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) });
      if (res.ok) return true;
      problem = `HTTP ${res.status}`;
      if (!retryable(res.status)) {
        log.warn("commit status refused", { repo: target.repo, sha: target.sha, state, problem });
        return false;
      }
    } catch (e) {
      problem = e instanceof Error ? e.message : String(e);
    }
    log.warn("commit status not posted", { repo: target.repo, sha: target.sha, state, attempt, problem });
    if (attempt < statusAttempts) await Bun.sleep(retryBaseMs * 2 ** (attempt - 1));
  }
  return false;
}

function finalState(status: JobView["status"]): CommitState | null {
  if (status === "succeeded") return "success";
  if (status === "failed") return "failure";
  if (status === "cancelled") return "error";
  return null;
}

function readToken(file: string): string | null {
  try {
    return readFileSync(file, "utf8").trim() || null;
  } catch (e) {
    log.warn("github token file unreadable; no commit statuses", { file, error: (e as NodeJS.ErrnoException).code ?? String(e) });
    return null;
  }
}

/** Posts pending now and the outcome when the job ends, in that order; false when statuses are off. */
export function trackDeployStatus(deps: StatusDeps, target: StatusTarget): boolean {
  if (!deps.config.github.tokenFile || !REPO_NAME.test(target.repo)) return false;
  const token = readToken(deps.config.github.tokenFile);
  if (!token) return false;
  let chain: Promise<unknown> = postCommitStatus(deps, token, target, "pending", `deploy to ${target.env} queued`);
  const unsubscribe = deps.jobs.events.subscribe(target.jobId, (ev) => {
    if (ev.type !== "job") return;
    const state = finalState(ev.status);
    if (!state) return;
    unsubscribe();
    const description = state === "success" ? `deployed to ${target.env}` : `deploy to ${target.env} ${ev.status}${ev.error ? `: ${ev.error}` : ""}`;
    chain = chain.then(() => postCommitStatus(deps, token, target, state, description));
  });
  return true;
}
