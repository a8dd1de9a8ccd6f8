/**
 * What a person picks a deploy from: the mirror's branches and the newest commits of one branch.
 * Read from the host's mirror only (the caller syncs it first); parsing is pure and tested alone.
 */
import { run } from "../exec/run";
import { gitCommands } from "./commands";
import { validateBranch } from "./validate";

export interface BranchHead {
  name: string;
  sha: string;
  date: string;
  subject: string;
}

export interface CommitLine {
  sha: string;
  date: string;
  author: string;
  subject: string;
}

/** Lines of NUL-separated fields; a line with too few fields (a subject cannot hold NUL) is dropped. */
function fields(out: string, n: number): string[][] {
  return out
    .split("\n")
    .map((l) => l.split("\0"))
    .filter((f) => f.length === n && (f[0] ?? "") !== "");
}

export function parseBranches(out: string): BranchHead[] {
  return fields(out, 4).map(([name, sha, date, subject]) => ({
    name: name ?? "",
    sha: sha ?? "",
    date: date ?? "",
    subject: subject ?? "",
  }));
}

export function parseLog(out: string): CommitLine[] {
  return fields(out, 4).map(([sha, date, author, subject]) => ({
    sha: sha ?? "",
    date: date ?? "",
    author: author ?? "",
    subject: subject ?? "",
  }));
}

/** Up to `count` branches, and `count` commits of `branch` (none when the mirror lacks it). */
export async function recentRefs(
  mirror: string,
  branch: string,
  count: number,
): Promise<{ branches: BranchHead[]; commits: CommitLine[] }> {
  const b = validateBranch(branch);
  const heads = parseBranches((await run(gitCommands.branches(mirror, count))).stdout);
  const commits = heads.some((h) => h.name === b)
    ? parseLog((await run(gitCommands.log(mirror, b, count))).stdout)
    : [];
  return { branches: heads, commits };
}
