/**
 * The policy at the commit being deployed: `.odooops/policies.yaml` read from the host's git
 * mirror, validated (an invalid file fails the deployment before anything is built, naming the
 * file, line and key), and recorded so `projectPolicy` sees what the repository says now.
 */
import { eq } from "drizzle-orm";
import { parseFileAt } from "../git/mirror";
import type { Db } from "../state/db";
import { DEFAULT_POLICY } from "./defaults";
import { latestPolicyRow, POLICY_FILE } from "./load";
import { policies } from "./policy.sql";
import { type Policy, parsePolicy } from "./schema";

export interface CommitPolicy {
  policy: Policy;
  source: "repo" | "default";
}

/** The policy at `sha` without recording it (dry runs). */
export async function readCommitPolicy(mirror: string, sha: string): Promise<CommitPolicy & { text: string | null }> {
  const file = await parseFileAt(mirror, sha, POLICY_FILE, (text) => parsePolicy(text, POLICY_FILE));
  return file ? { policy: file.value, source: "repo", text: file.text } : { policy: DEFAULT_POLICY, source: "default", text: null };
}

export async function policyAtCommit(db: Db, projectId: string, mirror: string, sha: string): Promise<CommitPolicy> {
  const { policy, source, text } = await readCommitPolicy(mirror, sha);
  recordPolicy(db, projectId, text === null ? "server" : "repo", sha, text ?? "");
  return { policy, source };
}

/** A new row only when the document changed; otherwise the newest row just moves to this commit. */
function recordPolicy(db: Db, projectId: string, source: "server" | "repo", sha: string, document: string): void {
  const latest = latestPolicyRow(db, projectId);
  if (latest && latest.source === source && latest.document === document) {
    db.update(policies).set({ commitSha: sha }).where(eq(policies.id, latest.id)).run();
    return;
  }
  db.insert(policies).values({ projectId, source, commitSha: sha, document }).run();
}
