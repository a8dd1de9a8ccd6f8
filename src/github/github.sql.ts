import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { environments, projects } from "../env/env.sql";
import { createdAt, id, now } from "../state/columns";

/** One row per accepted GitHub delivery: the replay guard (a delivery id is acted on once). */
export const githubDeliveries = sqliteTable("github_deliveries", {
  deliveryId: text("delivery_id").primaryKey(),
  projectId: text("project_id")
    .notNull()
    .references(() => projects.id),
  event: text("event").notNull(),
  receivedAt: text("received_at").notNull().$defaultFn(now),
  /** What came of it: `queued deployment …`, `ignored: tag push`, … */
  outcome: text("outcome"),
  /** Pushes only: the branch, its new head and GitHub's `repository.pushed_at`, to refuse an older push replayed under a new delivery id. */
  branch: text("branch"),
  sha: text("sha"),
  pushedAt: integer("pushed_at"),
});

/**
 * Preview environments odooops created for pull requests: the only envs the webhook, the
 * reconciliation sweep and PR comments ever act on, so a hand-made `pr-3` is never destroyed.
 */
export const githubPreviews = sqliteTable(
  "github_previews",
  {
    id: id(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id),
    /** `owner/name` of the base repository (where the PR, its comment and statuses live). */
    repo: text("repo").notNull(),
    prNumber: integer("pr_number").notNull(),
    envId: text("env_id")
      .notNull()
      .references(() => environments.id),
    /** The comment updated in place with the preview's URL and commit; null until posted. */
    commentId: integer("comment_id"),
    headSha: text("head_sha").notNull(),
    createdAt: createdAt(),
    /** The PR was seen closed (webhook or sweep) and the env's destroy queued. */
    closedAt: text("closed_at"),
  },
  (t) => [
    uniqueIndex("github_previews_env").on(t.envId),
    index("github_previews_pr").on(t.projectId, t.repo, t.prNumber),
  ],
);
