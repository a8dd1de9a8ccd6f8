/**
 * The reconciliation sweep: a webhook missed while the coordinator was down must not leave a
 * preview running forever. Open previews are checked against GitHub's list of open pull requests
 * per repository; a preview whose PR is not in it is destroyed. Any GitHub error skips that
 * repository for this round: an error never reads as "closed".
 */
import type { Schedule } from "../jobs/schedule";
import type { CoordinatorDeps } from "../deps";
import { Log } from "../log";
import { GithubClient, openPullNumbers } from "./client";
import { closePreview, openPreviews } from "./previews";

const log = Log.create("github");
export const RECONCILE_ACTOR = "github-reconcile";

export interface ReconcileResult {
  destroyed: string[];
  /** Repositories GitHub could not list this round. */
  skipped: string[];
}

export async function reconcilePreviews(deps: CoordinatorDeps & { fetch?: typeof fetch }): Promise<ReconcileResult> {
  const result: ReconcileResult = { destroyed: [], skipped: [] };
  const client = GithubClient.fromConfig(deps);
  const previews = openPreviews(deps);
  if (!client || previews.length === 0) return result;
  const byRepo = Map.groupBy(previews, (p) => p.preview.repo);
  for (const [repo, list] of byRepo) {
    const open = await openPullNumbers(client, repo);
    if (!open) {
      log.warn("open pull requests unknown; previews left alone this round", { repo });
      result.skipped.push(repo);
      continue;
    }
    for (const { preview, env } of list) {
      if (open.has(preview.prNumber)) continue;
      const out = closePreview(deps, preview, RECONCILE_ACTOR);
      deps.audit.record({
        actor: RECONCILE_ACTOR,
        action: "preview.reconcile",
        target: env.slug,
        details: { repo, pr: preview.prNumber, job: out?.job.id ?? null },
      });
      if (out) result.destroyed.push(out.env);
    }
  }
  return result;
}

export function reconcileSchedule(pattern: string): Schedule {
  return { name: "github.reconcile", pattern, tick: (deps) => reconcilePreviews(deps).then(() => undefined) };
}
