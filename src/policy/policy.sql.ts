import { sqliteTable, text } from "drizzle-orm/sqlite-core";
import { projects } from "../env/env.sql";
import { createdAt, id } from "../state/columns";

export const policies = sqliteTable("policies", {
  id: id(),
  projectId: text("project_id").references(() => projects.id),
  source: text("source", { enum: ["server", "repo"] }).notNull(),
  commitSha: text("commit_sha"),
  /** The default branch the document was read from; a row of any other branch (or none) is never in force. */
  branch: text("branch"),
  document: text("document").notNull(),
  createdAt: createdAt(),
});
