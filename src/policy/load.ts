/** The policy in force for a project: its newest stored document, else the server defaults. */
import { desc, eq } from "drizzle-orm";
import type { Db } from "../state/db";
import { effectivePolicy } from "./defaults";
import { policies } from "./policy.sql";
import { type Policy, parsePolicy } from "./schema";

export function projectPolicy(db: Db, projectId: string): Policy {
  const row = db.select().from(policies).where(eq(policies.projectId, projectId)).orderBy(desc(policies.createdAt)).limit(1).get();
  return effectivePolicy(row ? parsePolicy(row.document, row.source === "repo" ? `.odooops/policies.yaml@${row.commitSha ?? "?"}` : "server policy") : null);
}
