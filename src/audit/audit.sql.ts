import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { id, now } from "../state/columns";

/**
 * The audit trail as a hash chain: row `seq` carries `prev_hash` (the `hash` of row seq-1) and its
 * own `hash`, an HMAC over its fields (src/audit/chain.ts). `seq` and `hash` are null only for rows
 * written before the chain existed, until the daemon seals them at start.
 */
export const auditLogs = sqliteTable(
  "audit_logs",
  {
    id: id(),
    seq: integer("seq"),
    at: text("at").notNull().$defaultFn(now),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    target: text("target"),
    outcome: text("outcome", { enum: ["ok", "denied", "failed"] })
      .notNull()
      .default("ok"),
    ip: text("ip"),
    details: text("details", { mode: "json" }).$type<Record<string, unknown>>(),
    prevHash: text("prev_hash"),
    hash: text("hash"),
  },
  (t) => [index("audit_logs_at").on(t.at), uniqueIndex("audit_logs_seq").on(t.seq)],
);

/** A row to append: the chain fields (seq, hashes) are the service's to fill. */
export type AuditEntry = Omit<typeof auditLogs.$inferInsert, "seq" | "prevHash" | "hash">;
