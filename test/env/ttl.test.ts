/**
 * Env TTL without a host: expiry from the project's policy at create, the sweep on a fake clock
 * (one warning within 24 h, destroy after), `env extend` through the API and the CLI. No agent
 * runs: create jobs are cancelled and envs made active by hand; destroys stay queued.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { auditLogs } from "../../src/audit/audit.sql";
import { ConfigSchema } from "../../src/config/schema";
import { schedulesFor } from "../../src/daemon/schedules";
import { environments, projects } from "../../src/env/env.sql";
import type { EnvSummary } from "../../src/env/schema";
import { ttlSweep, WARN_BEFORE_MS } from "../../src/github/ttl-sweep";
import { jobs } from "../../src/jobs/jobs.sql";
import type { JobView } from "../../src/jobs/view";
import { policies } from "../../src/policy/policy.sql";
import { makeTestApi } from "../support/api";
import { runCliOn } from "../support/cli";

const DAY = 86_400_000;
let t: Awaited<ReturnType<typeof makeTestApi>>;
const cli = (...argv: string[]) => runCliOn(t, argv);
const envRow = (slug: string) => t.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
const audits = (action: string, target: string) =>
  t.deps.db
    .select()
    .from(auditLogs)
    .where(and(eq(auditLogs.action, action), eq(auditLogs.target, target)))
    .all();

async function activeEnv(name: string, tier: string, project?: string): Promise<void> {
  const res = await t.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name, tier, ...(project ? { project } : {}) }),
  });
  expect(res.status).toBe(202);
  const created = (await res.json()) as { job: JobView };
  expect((await t.request(`/api/v1/jobs/${created.job.id}/cancel`, { method: "POST" })).status).toBe(200);
  t.deps.db.update(environments).set({ status: "active", release: 1 }).where(eq(environments.slug, name)).run();
}

beforeAll(async () => {
  t = await makeTestApi();
  expect((await t.request("/api/v1/projects/short", { method: "PUT", body: JSON.stringify({}) })).status).toBe(200);
  const short = t.deps.db.select().from(projects).where(eq(projects.name, "short")).get()!;
  t.deps.db
    .insert(policies)
    .values({
      projectId: short.id,
      source: "repo",
      commitSha: "1".repeat(40),
      branch: "main",
      document: "ttl_policies: { dev: 12h, staging: never }\n",
    })
    .run();
});
afterAll(() => t.cleanup());

describe("expiry at create", () => {
  test("from the project's ttl_policies; the server default gives dev_ephemeral 7d and dev never", async () => {
    const before = Date.now();
    await activeEnv("eph", "dev_ephemeral");
    await activeEnv("plain", "dev");
    await activeEnv("quick", "dev", "short");
    await activeEnv("stage", "staging", "short");
    expect(Date.parse(envRow("eph").ttlExpiresAt!) - before).toBeWithin(7 * DAY - 60_000, 7 * DAY + 60_000);
    expect(envRow("plain").ttlExpiresAt).toBeNull();
    expect(Date.parse(envRow("quick").ttlExpiresAt!) - before).toBeWithin(
      12 * 3_600_000 - 60_000,
      12 * 3_600_000 + 60_000,
    );
    expect(envRow("stage").ttlExpiresAt).toBeNull();
    const list = JSON.parse((await cli("env", "list", "--json")).stdout) as EnvSummary[];
    expect(Object.fromEntries(list.map((e) => [e.slug, e.expiresAt]))).toEqual({
      eph: envRow("eph").ttlExpiresAt,
      plain: null,
      quick: envRow("quick").ttlExpiresAt,
      stage: null,
    });
  });
});

describe("the sweep (fake clock)", () => {
  test("warns once within 24 h of expiry (log + audit), destroys after, and leaves envs without expiry alone", async () => {
    const expires = Date.parse(envRow("quick").ttlExpiresAt!);
    const ephExpires = Date.parse(envRow("eph").ttlExpiresAt!);
    expect(ttlSweep(t.deps, new Date(expires - WARN_BEFORE_MS - 60_000))).toEqual({
      warned: [],
      destroyed: [],
      failed: [],
    });
    expect(ttlSweep(t.deps, new Date(expires - WARN_BEFORE_MS + 60_000))).toEqual({
      warned: ["quick"],
      destroyed: [],
      failed: [],
    });
    expect(audits("env.expiry-warning", "quick")).toHaveLength(1);
    expect(audits("env.expiry-warning", "quick")[0].details).toMatchObject({
      expiresAt: envRow("quick").ttlExpiresAt,
      prComment: false,
    });
    expect(ttlSweep(t.deps, new Date(expires - 60_000))).toEqual({ warned: [], destroyed: [], failed: [] });
    expect(audits("env.expiry-warning", "quick")).toHaveLength(1);

    expect(ttlSweep(t.deps, new Date(expires + 60_000))).toEqual({ warned: [], destroyed: ["quick"], failed: [] });
    expect(envRow("quick").status).toBe("destroying");
    const destroy = t.deps.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, "env.destroy"), eq(jobs.target, "quick")))
      .all();
    expect(destroy.map((j) => [j.status, j.createdBy, j.params.keepDatabase])).toEqual([
      ["queued", "ttl-sweep", false],
    ]);
    expect(audits("env.expire", "quick")).toHaveLength(1);
    // A second pass finds it being destroyed: nothing queued twice. The 7d env is not due yet.
    expect(ttlSweep(t.deps, new Date(expires + 120_000))).toEqual({ warned: [], destroyed: [], failed: [] });
    expect(ephExpires - (expires + 120_000)).toBeGreaterThan(WARN_BEFORE_MS);
  });
});

describe("env extend", () => {
  test("--ttl 3d sets now + 3 days and re-arms the warning; never clears it; shown by env get and list", async () => {
    t.deps.db
      .update(environments)
      .set({ ttlWarnedAt: new Date().toISOString() })
      .where(eq(environments.slug, "eph"))
      .run();
    const before = Date.now();
    const out = await cli("env", "extend", "eph", "--ttl", "3d", "--json");
    expect(out.code).toBe(0);
    const extended = JSON.parse(out.stdout) as EnvSummary;
    expect(Date.parse(extended.expiresAt!) - before).toBeWithin(3 * DAY - 60_000, 3 * DAY + 60_000);
    expect(envRow("eph").ttlWarnedAt).toBeNull();
    const got = JSON.parse((await cli("env", "get", "eph", "--json")).stdout) as EnvSummary;
    expect(got.expiresAt).toBe(extended.expiresAt);
    expect((await cli("env", "get", "eph")).stdout).toContain(`expires   ${extended.expiresAt}`);
    expect(audits("env.extend", "eph")[0].details).toMatchObject({ ttl: "3d", expiresAt: extended.expiresAt });

    const never = await cli("env", "extend", "eph", "--ttl", "never");
    expect([never.code, never.stdout]).toEqual([0, "eph never expires\n"]);
    expect(envRow("eph").ttlExpiresAt).toBeNull();
    expect(ttlSweep(t.deps, new Date(Date.now() + 365 * DAY))).toEqual({ warned: [], destroyed: [], failed: [] });
  });

  test("a bad TTL is a usage error; a missing env is 404; an env being destroyed is 409", async () => {
    const bad = await cli("env", "extend", "eph", "--ttl", "3 days");
    expect(bad.code).toBe(2);
    expect(
      (await t.request("/api/v1/environments/eph/extend", { method: "POST", body: JSON.stringify({ ttl: "0d" }) }))
        .status,
    ).toBe(400);
    expect((await cli("env", "extend", "nosuch", "--ttl", "1d")).code).toBe(4);
    expect(
      (await t.request("/api/v1/environments/quick/extend", { method: "POST", body: JSON.stringify({ ttl: "1d" }) }))
        .status,
    ).toBe(409);
  });
});

test("schedules: the TTL sweep by default, the preview reconciliation only with a GitHub token", () => {
  const names = (input: Record<string, unknown>) =>
    schedulesFor(ConfigSchema.parse(input)).map((s) => [s.name, s.pattern]);
  expect(names({})).toContainEqual(["ttl.sweep", "17 4 * * *"]);
  expect(names({}).map(([n]) => n)).not.toContain("github.reconcile");
  expect(
    names({ github: { tokenFile: "/etc/odooops/github-token", reconcileSchedule: "*/5 * * * *" } }),
  ).toContainEqual(["github.reconcile", "*/5 * * * *"]);
  expect(names({ ttl: { sweepSchedule: "" } }).map(([n]) => n)).not.toContain("ttl.sweep");
  expect(() => ConfigSchema.parse({ ttl: { sweepSchedule: "every day" } })).toThrow("invalid cron pattern");
});
