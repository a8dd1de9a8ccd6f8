import { sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createdAt, id } from "../state/columns";

export const hosts = sqliteTable("hosts", {
  id: id(),
  name: text("name").notNull().unique(),
  role: text("role", { enum: ["standalone", "coordinator", "agent"] }).notNull(),
  address: text("address"),
  status: text("status", { enum: ["online", "offline", "enrolling"] })
    .notNull()
    .default("online"),
  lastHeartbeatAt: text("last_heartbeat_at"),
  inventory: text("inventory", { mode: "json" }).$type<Record<string, unknown>>(),
  createdAt: createdAt(),
});
