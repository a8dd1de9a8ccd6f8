/**
 * The delivery-id guard stops GitHub's redeliveries; a signed delivery someone captured and re-sends
 * under a new id passes it. Such a replay must not roll anything back, so each push (per branch)
 * and each pull request event (per pull request) is recorded with its head commit and GitHub's
 * time, and one older than the newest seen — or, for pushes, a head the branch already had — is
 * not acted on. Going back on purpose is a deploy by hand (`odooops deploy <env> --sha …`).
 */
import { and, eq, ne } from "drizzle-orm";
import type { Db } from "../state/db";
import { githubDeliveries } from "./github.sql";

export interface DeliveryStream {
  event: "push" | "pull_request";
  /** The branch of a push, `owner/name#<number>` of a pull request. */
  key: string;
  sha: string;
  /** GitHub's time of the event, unix seconds (push: `repository.pushed_at`, pull request: `updated_at`). */
  at: number | null;
}

/** Why the delivery is a replay (null when it is new); records it either way. */
export function replayedDelivery(db: Db, projectId: string, delivery: string, s: DeliveryStream): string | null {
  const seen = db
    .select()
    .from(githubDeliveries)
    .where(
      and(
        eq(githubDeliveries.projectId, projectId),
        eq(githubDeliveries.event, s.event),
        eq(githubDeliveries.branch, s.key),
        ne(githubDeliveries.deliveryId, delivery),
      ),
    )
    .all();
  db.update(githubDeliveries)
    .set({ branch: s.key, sha: s.sha, pushedAt: s.at })
    .where(eq(githubDeliveries.deliveryId, delivery))
    .run();
  // A pull request reopened at the same head is legitimately the same commit again; a branch never is.
  const same = s.event === "push" ? seen.find((d) => d.sha === s.sha) : undefined;
  if (same)
    return `commit ${s.sha.slice(0, 12)} was already pushed to ${s.key} (delivery ${same.deliveryId}): a replayed push is not acted on`;
  const newer = s.at === null ? undefined : seen.find((d) => d.pushedAt !== null && d.pushedAt > s.at!);
  if (newer)
    return `this ${s.event === "push" ? "push to" : "event of"} ${s.key} is older than delivery ${newer.deliveryId} (commit ${newer.sha?.slice(0, 12)}): a replayed ${s.event === "push" ? "push" : "event"} is not acted on`;
  return null;
}
