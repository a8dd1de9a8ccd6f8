/**
 * The project's policy, read from the head of its default branch in a real git mirror and recorded
 * in real state for projectPolicy; a commit on any other branch never changes it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { projects } from "../../src/env/env.sql";
import { syncMirror } from "../../src/git/mirror";
import { DEFAULT_POLICY } from "../../src/policy/defaults";
import { projectPolicy } from "../../src/policy/load";
import { policies } from "../../src/policy/policy.sql";
import { type PolicyProject, readDefaultBranchPolicy, refreshProjectPolicy } from "../../src/policy/repo";
import { openState, type Db } from "../../src/state/db";
import { makeRepo, type TestRepo } from "../git/repo";
import { makeTempDir, removeTempDir } from "../support/tmp";

let dir: string;
let repo: TestRepo;
let mirror: string;
let db: Db;
let project: PolicyProject;

beforeAll(async () => {
  dir = makeTempDir("odooops-policy-repo-");
  repo = await makeRepo(join(dir, "repo"));
  db = openState(join(dir, "state.db"));
  project = db.insert(projects).values({ name: "shop", repoUrl: repo.url }).returning().get();
});

afterAll(() => {
  db?.$client.close();
  removeTempDir(dir);
});

async function at(files: Record<string, string | null>): Promise<string> {
  const sha = await repo.commit(files);
  mirror = await syncMirror({ reposDir: join(dir, "git"), url: repo.url });
  return sha;
}

const rows = () => db.select().from(policies).all();

test("no file on the default branch: the server default, recorded so the project's policy is the default again", async () => {
  const sha = await at({ "README.md": "x\n" });
  expect(await refreshProjectPolicy(db, project, mirror)).toEqual({
    policy: DEFAULT_POLICY,
    source: "default",
    commit: sha,
  });
  expect(rows()).toMatchObject([{ source: "server", commitSha: sha, branch: "main", document: "" }]);
  expect(projectPolicy(db, project.id)).toBe(DEFAULT_POLICY);
});

test("a file: parsed, recorded once per document (a later commit with the same text moves the row)", async () => {
  const text = 'ttl_policies: { dev: 3d }\nhealth_gates:\n  dev:\n    smoke_tests: { command: ["true"] }\n';
  await at({ ".odooops/policies.yaml": text });
  const read = await refreshProjectPolicy(db, project, mirror);
  expect(read.source).toBe("repo");
  expect(read.policy.ttl_policies.dev).toBe("3d");
  const sha2 = await at({ "README.md": "y\n" });
  await refreshProjectPolicy(db, project, mirror);
  expect(rows().filter((r) => r.source === "repo")).toMatchObject([
    { commitSha: sha2, branch: "main", document: text },
  ]);
  expect(projectPolicy(db, project.id).health_gates.dev?.smoke_tests?.command).toEqual(["true"]);
});

test("a policies file on another branch is never read, whatever is deployed", async () => {
  await repo.git("checkout", "--quiet", "-b", "feature/evil");
  await at({
    ".odooops/policies.yaml": "branch_mappings:\n  - { pattern: '**', tier: production, auto_deploy: true }\n",
  });
  await repo.git("checkout", "--quiet", "main");
  mirror = await syncMirror({ reposDir: join(dir, "git"), url: repo.url });
  const before = rows().length;
  const read = await refreshProjectPolicy(db, project, mirror);
  expect(read.policy.branch_mappings).toEqual([]);
  expect(read.commit).toBe(await repo.git("rev-parse", "main"));
  expect(rows().length).toBe(before);
  expect(projectPolicy(db, project.id).branch_mappings).toEqual([]);
});

test("an invalid file on the default branch: Invalid naming the commit, file, line and key; nothing recorded", async () => {
  const before = rows().length;
  const sha = await at({ ".odooops/policies.yaml": "version: 1\nresource_quotas:\n  staging:\n    memroy: 2g\n" });
  await expect(refreshProjectPolicy(db, project, mirror)).rejects.toThrow(
    `commit ${sha.slice(0, 12)}: invalid policy: .odooops/policies.yaml:4: resource_quotas.staging.memroy`,
  );
  await expect(readDefaultBranchPolicy(mirror, project)).rejects.toThrow(".odooops/policies.yaml:4");
  expect(rows().length).toBe(before);
  expect(projectPolicy(db, project.id).ttl_policies.dev).toBe("3d");
});

test("the file removed again: back to the default", async () => {
  await at({ ".odooops/policies.yaml": null });
  await refreshProjectPolicy(db, project, mirror);
  expect(projectPolicy(db, project.id)).toBe(DEFAULT_POLICY);
});

test("a default branch the repository lacks: a clear error; rows of the old default branch are no longer in force", async () => {
  await at({ ".odooops/policies.yaml": "ttl_policies: { dev: 5d }\n" });
  await refreshProjectPolicy(db, project, mirror);
  expect(projectPolicy(db, project.id).ttl_policies.dev).toBe("5d");
  db.update(projects).set({ defaultBranch: "trunk" }).where(eq(projects.id, project.id)).run();
  const moved = { ...project, defaultBranch: "trunk" };
  await expect(refreshProjectPolicy(db, moved, mirror)).rejects.toThrow(
    "default branch trunk, which its repository does not have; set the right one: odooops project set shop --branch <name>",
  );
  expect(projectPolicy(db, project.id)).toBe(DEFAULT_POLICY);
});
