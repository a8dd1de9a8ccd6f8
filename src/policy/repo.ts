/**
 * The project's policy comes from `.odooops/policies.yaml` at the head of its **default branch**,
 * read from the host's git mirror — never from the commit being deployed. Any branch or pull
 * request that gets built is untrusted: its file must not map a branch to production, lift a
 * quota or turn off production's approval. Validated (an invalid file fails the deployment before
 * anything is built, naming the file, line and key) and recorded so `projectPolicy` sees it.
 */
import { eq } from "drizzle-orm";
import { Invalid, NotFound } from "../errors";
import { parseFileAt, resolveCommit } from "../git/mirror";
import type { Db } from "../state/db";
import { DEFAULT_POLICY } from "./defaults";
import { latestPolicyRow, POLICY_FILE } from "./load";
import { policies } from "./policy.sql";
import { type Policy, parsePolicy } from "./schema";

export interface BranchPolicy {
  policy: Policy;
  source: "repo" | "default";
  /** The head of the default branch the policy was read at. */
  commit: string;
}

export interface PolicyProject {
  id: string;
  name: string;
  defaultBranch: string;
}

/** The policy at the head of `project.defaultBranch` in the mirror, without recording it (dry runs). */
export async function readDefaultBranchPolicy(
  mirror: string,
  project: PolicyProject,
): Promise<BranchPolicy & { text: string | null }> {
  let commit: string;
  try {
    commit = await resolveCommit(mirror, { branch: project.defaultBranch });
  } catch (e) {
    if (!(e instanceof NotFound)) throw e;
    throw new Invalid(
      `the policy is read from project ${project.name}'s default branch ${project.defaultBranch}, which its repository does not have; set the right one: odooops project set ${project.name} --branch <name>`,
    );
  }
  const file = await parseFileAt(mirror, commit, POLICY_FILE, (text) => parsePolicy(text, POLICY_FILE));
  return file
    ? { policy: file.value, source: "repo", commit, text: file.text }
    : { policy: DEFAULT_POLICY, source: "default", commit, text: null };
}

export async function refreshProjectPolicy(db: Db, project: PolicyProject, mirror: string): Promise<BranchPolicy> {
  const { policy, source, commit, text } = await readDefaultBranchPolicy(mirror, project);
  recordPolicy(db, project, text === null ? "server" : "repo", commit, text ?? "");
  return { policy, source, commit };
}

/** A new row only when the document changed; otherwise the newest row just moves to this commit. */
function recordPolicy(db: Db, project: PolicyProject, source: "server" | "repo", sha: string, document: string): void {
  const latest = latestPolicyRow(db, project.id);
  if (latest && latest.source === source && latest.document === document) {
    db.update(policies).set({ commitSha: sha }).where(eq(policies.id, latest.id)).run();
    return;
  }
  db.insert(policies)
    .values({ projectId: project.id, source, commitSha: sha, branch: project.defaultBranch, document })
    .run();
}
