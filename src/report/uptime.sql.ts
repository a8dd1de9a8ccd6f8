import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { environments } from "../env/env.sql";

/**
 * The minute probes of each env through nginx, counted per hour: a month of 100 envs is 72,000
 * rows, not 4 million, and availability over any whole-hour window is a sum.
 */
export const uptimeHours = sqliteTable(
  "uptime_hours",
  {
    envId: text("env_id")
      .notNull()
      .references(() => environments.id),
    /** The hour's start, UTC ISO-8601 (`2026-12-05T06:00:00.000Z`). */
    hour: text("hour").notNull(),
    probes: integer("probes").notNull().default(0),
    failures: integer("failures").notNull().default(0),
    /** The newest failed probe's answer, one line. */
    lastFailure: text("last_failure"),
  },
  (t) => [primaryKey({ columns: [t.envId, t.hour] }), index("uptime_hours_hour").on(t.hour)],
);
