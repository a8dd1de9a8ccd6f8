/** `odooops project|deploy|rollback …` against an in-process API (no agent: jobs stay queued). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { deployments } from "../../src/deploy/deploy.sql";
import { environments } from "../../src/env/env.sql";
import type { JobView } from "../../src/jobs/view";
import { makeTestApi } from "../support/api";
import { runCliOn } from "../support/cli";

let t: Awaited<ReturnType<typeof makeTestApi>>;
const cli = (...argv: string[]) => runCliOn(t, argv);
let envId = "";

beforeAll(async () => {
  t = await makeTestApi();
  const res = await t.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name: "shop", tier: "staging" }),
  });
  expect(res.status).toBe(202);
  // The create job never runs here (no agent): it is cancelled and the env made active by hand.
  const created = (await res.json()) as { job: JobView };
  expect((await t.request(`/api/v1/jobs/${created.job.id}/cancel`, { method: "POST" })).status).toBe(200);
  t.deps.db.update(environments).set({ status: "active", release: 1 }).where(eq(environments.slug, "shop")).run();
  envId = t.deps.db.select().from(environments).where(eq(environments.slug, "shop")).get()!.id;
});
afterAll(() => t.cleanup());

describe("project", () => {
  test("set validates the repository URL and branch; list shows it; rerun is idempotent", async () => {
    const bad = await cli("project", "set", "default", "--repo", "ext::sh -c touch% /tmp/pwned");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("ext::");
    const badBranch = await cli("project", "set", "default", "--branch", "a..b");
    expect(badBranch.code).toBe(2);
    const ok = await cli("project", "set", "default", "--repo", "file:///srv/addons.git");
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("project default: file:///srv/addons.git (default branch main)");
    expect((await cli("project", "add", "default", "--repo", "file:///srv/addons.git")).code).toBe(0);
    const list = JSON.parse((await cli("project", "list", "--json")).stdout) as { name: string; repoUrl: string }[];
    expect(list.map((p) => [p.name, p.repoUrl])).toEqual([["default", "file:///srv/addons.git"]]);
  });
});

describe("deploy", () => {
  test("bad input is a usage error and records nothing", async () => {
    for (const argv of [
      ["--branch", "x;rm -rf /"],
      ["--sha", "xyz"],
      ["--sha", "abcdef1", "--branch", "main"],
    ]) {
      const r = await cli("deploy", "shop", ...argv);
      expect(r.code).toBe(2);
    }
    expect((await cli("deploy", "nope")).code).toBe(4);
    expect((await cli("deploy", "list")).code).toBe(2);
    expect(t.deps.db.select().from(deployments).all()).toEqual([]);
  });

  test("without --wait: the job id on stdout, the deployment and how to follow on stderr; list and show", async () => {
    const r = await cli("deploy", "shop", "--sha", "ABCDEF1234567");
    expect(r.code).toBe(0);
    const jobId = r.stdout.trim();
    const job = JSON.parse((await cli("jobs", "show", jobId, "--json")).stdout) as JobView;
    expect(job).toMatchObject({ kind: "deploy", target: "shop", status: "queued" });
    expect(r.stderr).toMatch(/deploying to shop: deployment [0-9a-f-]+ \(release 2\)/);
    expect(r.stderr).toContain(`odooops jobs wait ${jobId}`);

    const list = await cli("deploy", "list", "shop");
    expect(list.stdout).toMatch(/RELEASE\s+ID\s+KIND\s+STATUS\s+COMMIT/);
    expect(list.stdout).toMatch(/2\s+[0-9a-f-]+\s+deploy\s+queued\s+abcdef123456\s/);
    const [d] = JSON.parse((await cli("deploy", "list", "shop", "--json")).stdout) as { id: string; jobId: string }[];
    const show = await cli("deploy", "show", d!.id);
    expect(show.stdout).toContain("status    queued");
    expect(show.stdout).toContain(`log       odooops jobs logs ${d!.jobId}`);
    expect((await cli("deploy", "show", "not-an-id")).code).toBe(2);

    // A second deploy queues behind the first: the lock's holder, its commit and since when.
    const second = await cli("deploy", "shop", "--branch", "main");
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/shop is locked by deploy [0-9a-f-]+ of abcdef123456 \(queued, by admin\)/);
  });
});

describe("rollback", () => {
  test("refuses without a terminal unless --yes; nothing to go back to is 'not found'", async () => {
    const r = await cli("rollback", "shop");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("pass --yes");
    const none = await cli("rollback", "shop", "--yes");
    expect(none.code).toBe(4);
    expect(none.stderr).toContain("no earlier successful deployment");
  });

  test("--list shows candidates; crossing a migration needs a choice; --keep-db queues the switch", async () => {
    const insert = (release: number, sha: string, migrated: boolean) =>
      t.deps.db
        .insert(deployments)
        .values({
          envId,
          release,
          kind: "deploy",
          status: "success",
          commitSha: sha,
          image: `odooops-shop:${sha.slice(0, 12)}`,
          migrated,
          modulesUpdated: migrated ? [{ name: "sale_ext", from: "17.0.1.0", to: "17.0.1.1" }] : [],
        })
        .returning()
        .get();
    const old = insert(10, "a".repeat(40), false);
    const cur = insert(11, "b".repeat(40), true);
    t.deps.db
      .update(environments)
      .set({ currentDeploymentId: cur.id, release: 11 })
      .where(eq(environments.id, envId))
      .run();

    const list = await cli("rollback", "shop", "--list");
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(old.id);
    expect(list.stdout).not.toContain(cur.id);

    const refused = await cli("rollback", "shop", "--yes");
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain("sale_ext 17.0.1.0→17.0.1.1");
    expect(refused.stderr).toContain("--keep-db");
    expect((await cli("rollback", "shop", "--yes", "--restore-db")).stderr).toContain("has no pre-deploy backup");

    const ok = await cli("rollback", "shop", "--yes", "--keep-db", "--to", "aaaaaaa");
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("rolling shop back to aaaaaaaaaaaa as release 12");
  });
});
