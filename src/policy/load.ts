/**
 * The policy in force for a project: the newest document a deployment read from the head of the
 * project's default branch, else the server defaults. Read from state only (the webhook answers
 * within 100 ms, no git). A row read from another branch — recorded by an older odooops from
 * whatever commit it deployed, or from a branch that is no longer the default — is never in force.
 */
import { and, desc, eq } from "drizzle-orm";
import { projects } from "../env/env.sql";
import type { Db } from "../state/db";
import { DEFAULT_POLICY } from "./defaults";
import { policies } from "./policy.sql";
import { type Policy, parsePolicy } from "./schema";

export const POLICY_FILE = ".odooops/policies.yaml";

export type PolicyRow = typeof policies.$inferSelect;

export function latestPolicyRow(db: Db, projectId: string): PolicyRow | undefined {
  const project = db
    .select({ defaultBranch: projects.defaultBranch })
    .from(projects)
    .where(eq(projects.id, projectId))
    .get();
  if (!project) return undefined;
  return db
    .select()
    .from(policies)
    .where(and(eq(policies.projectId, projectId), eq(policies.branch, project.defaultBranch)))
    .orderBy(desc(policies.createdAt), desc(policies.id))
    .limit(1)
    .get();
}

/** A `server` row records a default-branch head without a policies file: the defaults apply again. */
export function policyOfRow(row: PolicyRow | undefined): Policy {
  return row?.source === "repo" ? parsePolicy(row.document, `${POLICY_FILE}@${row.commitSha ?? "?"}`) : DEFAULT_POLICY;
}

export function projectPolicy(db: Db, projectId: string): Policy {
  return policyOfRow(latestPolicyRow(db, projectId));
}
