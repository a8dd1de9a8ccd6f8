import { index, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { id, now } from "../state/columns";

export const auditLogs = sqliteTable(
  "audit_logs",
  {
    id: id(),
    at: text("at").notNull().$defaultFn(now),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    target: text("target"),
    outcome: text("outcome", { enum: ["ok", "denied", "failed"] }).notNull().default("ok"),
    ip: text("ip"),
    details: text("details", { mode: "json" }).$type<Record<string, unknown>>(),
  },
  (t) => [index("audit_logs_at").on(t.at)],
);
