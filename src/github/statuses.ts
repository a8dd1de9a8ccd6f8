/**
 * Commit statuses (`odooops/deployment`) for deploys a push or a pull request started: pending
 * when queued, the outcome when the job ends. Posted in the background through the GitHub client
 * (retried); a GitHub outage costs a status, never a deploy. Statuses follow the job's events in
 * this process, so a coordinator restart mid-deploy loses the final status of that deploy. A
 * failure shows only the first line of the error, redacted and capped (src/github/publish.ts).
 */
import type { Config } from "../config/schema";
import type { JobService } from "../jobs/service";
import type { JobView } from "../jobs/view";
import { GithubClient, validRepoName } from "./client";
import { publicDetail, publishable, STATUS_DESCRIPTION_MAX } from "./publish";

export const STATUS_CONTEXT = "odooops/deployment";

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

/** The deployment log's address, when the coordinator has a public URL to link to. */
export function jobLogUrl(config: Pick<Config, "publicUrl">, jobId: string): string | null {
  return config.publicUrl ? `${config.publicUrl.replace(/\/+$/, "")}/api/v1/jobs/${jobId}/log` : null;
}

/** One status, retried by the client; false when given up. */
export async function postCommitStatus(
  deps: StatusDeps,
  client: GithubClient,
  target: StatusTarget,
  state: CommitState,
  description: string,
): Promise<boolean> {
  const targetUrl = jobLogUrl(deps.config, target.jobId);
  const res = await client.request("POST", `/repos/${target.repo}/statuses/${target.sha}`, {
    state,
    context: STATUS_CONTEXT,
    description: publishable(description, STATUS_DESCRIPTION_MAX),
    ...(targetUrl ? { target_url: targetUrl } : {}),
  });
  return res.ok;
}

export function finalState(status: JobView["status"]): CommitState | null {
  if (status === "succeeded") return "success";
  if (status === "failed") return "failure";
  if (status === "cancelled") return "error";
  return null;
}

/** Posts pending now and the outcome when the job ends, in that order; false when statuses are off. */
export function trackDeployStatus(deps: StatusDeps, target: StatusTarget): boolean {
  if (!validRepoName(target.repo)) return false;
  const client = GithubClient.fromConfig(deps);
  if (!client) return false;
  let chain: Promise<unknown> = postCommitStatus(deps, client, target, "pending", `deploy to ${target.env} queued`);
  const unsubscribe = deps.jobs.events.subscribe(target.jobId, (ev) => {
    if (ev.type !== "job") return;
    const state = finalState(ev.status);
    if (!state) return;
    unsubscribe();
    const description =
      state === "success"
        ? `deployed to ${target.env}`
        : `deploy to ${target.env} ${ev.status}${ev.error ? `: ${publicDetail(ev.error)}` : ""}`;
    chain = chain.then(() => postCommitStatus(deps, client, target, state, description));
  });
  return true;
}
