import { desc } from "drizzle-orm";
import type { Db } from "../state/db";
import { auditLogs } from "./audit.sql";

export type AuditEntry = typeof auditLogs.$inferInsert;

/** Append-only trail of who did what: every mutating API call and every denied request. */
export class AuditService {
  constructor(private readonly db: Db) {}

  record(entry: AuditEntry): void {
    this.db.insert(auditLogs).values(entry).run();
  }

  list(limit = 100) {
    return this.db.select().from(auditLogs).orderBy(desc(auditLogs.at)).limit(limit).all();
  }
}
