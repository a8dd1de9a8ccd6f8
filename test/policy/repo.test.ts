/** The policy at a commit, read from a real git mirror and recorded in real state for projectPolicy. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { projects } from "../../src/env/env.sql";
import { syncMirror } from "../../src/git/mirror";
import { DEFAULT_POLICY } from "../../src/policy/defaults";
import { projectPolicy } from "../../src/policy/load";
import { policies } from "../../src/policy/policy.sql";
import { policyAtCommit, readCommitPolicy } from "../../src/policy/repo";
import { openState, type Db } from "../../src/state/db";
import { makeRepo, type TestRepo } from "../git/repo";
import { makeTempDir, removeTempDir } from "../support/tmp";

let dir: string;
let repo: TestRepo;
let mirror: string;
let db: Db;
let projectId: string;

beforeAll(async () => {
  dir = makeTempDir("odooops-policy-repo-");
  repo = await makeRepo(join(dir, "repo"));
  db = openState(join(dir, "state.db"));
  projectId = db.insert(projects).values({ name: "shop", repoUrl: repo.url }).returning().get().id;
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

test("no file: the server default, recorded so the project's policy is the default again", async () => {
  const sha = await at({ "README.md": "x\n" });
  expect(await policyAtCommit(db, projectId, mirror, sha)).toEqual({ policy: DEFAULT_POLICY, source: "default" });
  expect(rows()).toMatchObject([{ source: "server", commitSha: sha, document: "" }]);
  expect(projectPolicy(db, projectId)).toBe(DEFAULT_POLICY);
});

test("a file: parsed, recorded once per document (a later commit with the same text moves the row)", async () => {
  const text = "ttl_policies: { dev: 3d }\nhealth_gates:\n  dev:\n    smoke_tests: { command: [\"true\"] }\n";
  const sha1 = await at({ ".odooops/policies.yaml": text });
  const read = await policyAtCommit(db, projectId, mirror, sha1);
  expect(read.source).toBe("repo");
  expect(read.policy.ttl_policies.dev).toBe("3d");
  const sha2 = await at({ "README.md": "y\n" });
  await policyAtCommit(db, projectId, mirror, sha2);
  expect(rows().filter((r) => r.source === "repo")).toMatchObject([{ commitSha: sha2, document: text }]);
  expect(projectPolicy(db, projectId).health_gates.dev?.smoke_tests?.command).toEqual(["true"]);
});

test("an invalid file at the commit: Invalid naming the commit, file, line and key; nothing recorded", async () => {
  const before = rows().length;
  const sha = await at({ ".odooops/policies.yaml": "version: 1\nresource_quotas:\n  staging:\n    memroy: 2g\n" });
  await expect(policyAtCommit(db, projectId, mirror, sha)).rejects.toThrow(`commit ${sha.slice(0, 12)}: invalid policy: .odooops/policies.yaml:4: resource_quotas.staging.memroy`);
  await expect(readCommitPolicy(mirror, sha)).rejects.toThrow(".odooops/policies.yaml:4");
  expect(rows().length).toBe(before);
  expect(projectPolicy(db, projectId).ttl_policies.dev).toBe("3d");
});

test("the file removed again: back to the default", async () => {
  const sha = await at({ ".odooops/policies.yaml": null });
  await policyAtCommit(db, projectId, mirror, sha);
  expect(projectPolicy(db, projectId)).toBe(DEFAULT_POLICY);
});
