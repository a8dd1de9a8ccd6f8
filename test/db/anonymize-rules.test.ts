/**
 * Where a copy's anonymization rules come from (src/db/anonymize-rules.ts), over real state and a
 * real git repository: no repository, the default branch head, the served commit, a remote that
 * went away (the mirror as last fetched), a served commit the mirror does not have.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { renameSync } from "node:fs";
import { eq } from "drizzle-orm";
import { anonymizeRulesFor } from "../../src/db/anonymize-rules";
import { deployments } from "../../src/deploy/deploy.sql";
import { environments, type Environment } from "../../src/env/env.sql";
import { makeRepo, type TestRepo } from "../git/repo";
import { makeTestApi } from "../support/api";
import { makeTempDir, removeTempDir } from "../support/tmp";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let repo: TestRepo;
let repoDir: string;
let lines: string[] = [];
const io = { log: (line: string) => void lines.push(line) };

const rules = (email: string) =>
  `version: 1\ntables:\n  res_partner:\n    columns:\n      email: { template: "${email}" }\n`;

beforeAll(async () => {
  t = await makeTestApi();
  repoDir = makeTempDir("odooops-rules-repo-");
  repo = await makeRepo(repoDir);
  expect(
    (
      await t.request("/api/v1/environments", {
        method: "POST",
        body: JSON.stringify({ name: "shop", tier: "production" }),
      })
    ).status,
  ).toBe(202);
});
afterAll(() => {
  t.cleanup();
  removeTempDir(repoDir);
});

const shop = (): Environment => t.deps.db.select().from(environments).where(eq(environments.slug, "shop")).get()!;

function serve(sha: string): void {
  const d = t.deps.db
    .insert(deployments)
    .values({ envId: shop().id, release: 2, commitSha: sha, status: "success" })
    .returning()
    .get();
  t.deps.db.update(environments).set({ currentDeploymentId: d.id }).where(eq(environments.id, shop().id)).run();
}

const emailRule = (r: Awaited<ReturnType<typeof anonymizeRulesFor>>) => r.rules.tables.res_partner?.columns.email;

describe("anonymizeRulesFor", () => {
  test("a project without a repository: the defaults", async () => {
    const r = await anonymizeRulesFor(t.deps, shop(), io);
    expect(r.from).toBe(
      "templates/anonymize-default.yaml < no .odooops/anonymize.yaml (project default has no repository)",
    );
    expect(emailRule(r)).toEqual({ fake: "email" });
  });

  test("no deployed commit: the default branch's head", async () => {
    await repo.commit({ ".odooops/anonymize.yaml": rules("first-{id}@x.invalid") });
    const head = await repo.commit({ ".odooops/anonymize.yaml": rules("head-{id}@x.invalid") });
    expect(
      (await t.request("/api/v1/projects/default", { method: "PUT", body: JSON.stringify({ repoUrl: repo.url }) }))
        .status,
    ).toBe(200);
    const r = await anonymizeRulesFor(t.deps, shop(), io);
    expect(r.from).toBe(
      `templates/anonymize-default.yaml < .odooops/anonymize.yaml at ${head.slice(0, 12)}, the head of main (shop serves no deployed commit)`,
    );
    expect(emailRule(r)).toEqual({ template: "head-{id}@x.invalid" });
    // The defaults the file does not name stay.
    expect(r.rules.tables.res_partner?.columns.phone).toEqual({ fake: "phone" });
  });

  test("the commit the env serves wins over the head", async () => {
    serve(await repo.git("rev-parse", "HEAD~1"));
    const r = await anonymizeRulesFor(t.deps, shop(), io);
    expect(r.from).toEndWith(", the commit shop serves");
    expect(emailRule(r)).toEqual({ template: "first-{id}@x.invalid" });
  });

  test("the remote went away: the mirror as last fetched, said in the log", async () => {
    const moved = `${repoDir}-moved`;
    renameSync(repoDir, moved);
    try {
      lines = [];
      const r = await anonymizeRulesFor(t.deps, shop(), io);
      expect(emailRule(r)).toEqual({ template: "first-{id}@x.invalid" });
      expect(
        lines.some(
          (l) => l.startsWith(`could not fetch ${repo.url} (`) && l.endsWith("reading the mirror as last fetched"),
        ),
      ).toBe(true);
    } finally {
      renameSync(moved, repoDir);
    }
  });

  test("a served commit the mirror does not have is an error naming it", async () => {
    serve("0123456789abcdef0123456789abcdef01234567");
    await expect(anonymizeRulesFor(t.deps, shop(), io)).rejects.toThrow(
      "commit 0123456789abcdef0123456789abcdef01234567 not found",
    );
  });

  test("unreachable and never fetched: the fetch error", async () => {
    const other = makeTempDir("odooops-rules-none-");
    try {
      expect(
        (
          await t.request("/api/v1/projects/default", {
            method: "PUT",
            body: JSON.stringify({ repoUrl: `file://${other}/missing.git` }),
          })
        ).status,
      ).toBe(200);
      await expect(anonymizeRulesFor(t.deps, shop(), io)).rejects.toThrow();
    } finally {
      removeTempDir(other);
    }
  });
});
