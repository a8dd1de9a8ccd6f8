import { sqliteTable, text } from "drizzle-orm/sqlite-core";
import { projects } from "../env/env.sql";
import { now } from "../state/columns";

/** One row per accepted GitHub delivery: the replay guard (a delivery id is acted on once). */
export const githubDeliveries = sqliteTable("github_deliveries", {
  deliveryId: text("delivery_id").primaryKey(),
  projectId: text("project_id").notNull().references(() => projects.id),
  event: text("event").notNull(),
  receivedAt: text("received_at").notNull().$defaultFn(now),
  /** What came of it: `queued deployment …`, `ignored: tag push`, … */
  outcome: text("outcome"),
});
