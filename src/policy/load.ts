/**
 * The policy in force for a project: the newest document a deployment read from the repository,
 * else the server defaults. Read from state only (the webhook answers within 100 ms, no git).
 */
import { desc, eq } from "drizzle-orm";
import type { Db } from "../state/db";
import { DEFAULT_POLICY } from "./defaults";
import { policies } from "./policy.sql";
import { type Policy, parsePolicy } from "./schema";

export const POLICY_FILE = ".odooops/policies.yaml";

export type PolicyRow = typeof policies.$inferSelect;

export function latestPolicyRow(db: Db, projectId: string): PolicyRow | undefined {
  return db.select().from(policies).where(eq(policies.projectId, projectId)).orderBy(desc(policies.createdAt), desc(policies.id)).limit(1).get();
}

/** A `server` row records a commit without a policies file: the defaults apply again. */
export function policyOfRow(row: PolicyRow | undefined): Policy {
  return row?.source === "repo" ? parsePolicy(row.document, `${POLICY_FILE}@${row.commitSha ?? "?"}`) : DEFAULT_POLICY;
}

export function projectPolicy(db: Db, projectId: string): Policy {
  return policyOfRow(latestPolicyRow(db, projectId));
}
