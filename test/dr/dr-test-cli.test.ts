/**
 * `odooops dr test` / `dr reports` through the real CLI against an in-process API (no agent: the
 * jobs stay queued, nothing touches the host): which envs and backups are picked, refusals with
 * nothing recorded, the reports table, the schedule, the role, and the metrics read from the records.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { formatAge } from "../../src/cli/commands/dr";
import { ConfigSchema } from "../../src/config/schema";
import { schedulesFor } from "../../src/daemon/schedules";
import { backups } from "../../src/db/backup.sql";
import { drTestSchedule } from "../../src/dr/dr-test";
import { failDrTest, insertDrTest, markDrTestStarted, passDrTest } from "../../src/dr/dr-test-records";
import { drTests } from "../../src/dr/dr-tests.sql";
import { environments } from "../../src/env/env.sql";
import type { JobView } from "../../src/jobs/view";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";

let t: Awaited<ReturnType<typeof makeTestApi>>;
const env = () => ({ ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: t.token });
const cli = (...argv: string[]) => runCliWith(argv, { fetch: (u, i) => t.fetch(u, i), env: env() });
const ids: Record<string, string> = {};
const newest: Record<string, string> = {};

function addBackup(
  envId: string,
  createdAt: string,
  status: "completed" | "failed",
  localPath: string | null,
  s3Key: string | null = null,
) {
  return t.deps.db
    .insert(backups)
    .values({ envId, kind: "manual", status, dbName: "x", localPath, s3Key, createdAt })
    .returning()
    .get().id;
}

const params = (jobId: string) => t.deps.jobs.queue.row(jobId).params as Record<string, unknown>;
const recorded = () => t.deps.db.select().from(drTests).all().length;

beforeAll(async () => {
  t = await makeTestApi();
  for (const [name, tier] of [
    ["shop", "dev"],
    ["prod", "production"],
    ["prod2", "production"],
    ["prod3", "production"],
  ] as const) {
    expect((await cli("env", "create", name, "--tier", tier)).code).toBe(0);
    // No agent runs the create job: mark the env as created.
    t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, name)).run();
    ids[name] = t.deps.db.select().from(environments).where(eq(environments.slug, name)).get()!.id;
  }
  addBackup(ids.prod!, "2026-01-01T00:00:00.000Z", "completed", "/srv/b/1");
  newest.prod = addBackup(ids.prod!, "2026-01-02T00:00:00.000Z", "completed", "/srv/b/2");
  addBackup(ids.prod!, "2026-01-03T00:00:00.000Z", "failed", "/srv/b/3");
  // Only in S3, and no S3 configured: not restorable here.
  addBackup(ids.prod3!, "2026-01-02T00:00:00.000Z", "completed", null, "prod3/2026-01-02");
  newest.shop = addBackup(ids.shop!, "2026-01-02T00:00:00.000Z", "completed", "/srv/b/4");
});
afterAll(() => t.cleanup());

describe("dr test", () => {
  test("without --env: one job per production env with its newest completed backup; the others named with why", async () => {
    const r = await cli("dr", "test");
    expect(r.code).toBe(0);
    const jobIds = r.stdout.trim().split("\n");
    expect(jobIds).toHaveLength(1);
    expect(t.deps.jobs.queue.row(jobIds[0]!)).toMatchObject({ kind: "dr-test", target: "prod", status: "queued" });
    expect(params(jobIds[0]!)).toMatchObject({ envId: ids.prod, slug: "prod", backupId: newest.prod });
    expect(r.stderr).toContain(
      "skipped prod2: prod2 has no completed backup to test; make one first: odooops db backup prod2",
    );
    expect(r.stderr).toContain("skipped prod3: none of prod3's 1 completed backup(s) can be read here");
    expect(r.stderr).toContain(`testing prod with backup ${newest.prod}`);
    const row = t.deps.db.select().from(drTests).where(eq(drTests.jobId, jobIds[0]!)).get();
    expect(row).toMatchObject({ envId: ids.prod, backupId: newest.prod, outcome: "running", startedAt: null });
  });

  test("--env any tier; --json prints what was queued", async () => {
    const r = await cli("dr", "test", "--env", "shop", "--json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { started: { env: string; backupId: string; job: JobView }[] };
    expect(out.started.map((s) => [s.env, s.backupId, s.job.kind])).toEqual([["shop", newest.shop, "dr-test"]]);
  });

  test("refused with the reason, nothing recorded: unknown env, no backup, not restorable here", async () => {
    const before = recorded();
    const unknown = await cli("dr", "test", "--env", "nope");
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("no environment nope");
    const bare = await cli("dr", "test", "--env", "prod2");
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toContain("prod2 has no completed backup to test; make one first: odooops db backup prod2");
    const s3only = await cli("dr", "test", "--env", "prod3");
    expect(s3only.code).not.toBe(0);
    expect(s3only.stderr).toContain("no S3 target is configured");
    expect(recorded()).toBe(before);
  });

  test("a viewer may not run one nor read the reports (403), nothing recorded", async () => {
    await t.deps.auth.createUser("drviewer", "viewer-password-long", "viewer");
    const { token } = await t.deps.auth.login("drviewer", "viewer-password-long");
    const before = recorded();
    const post = await t.request("/api/v1/dr/tests", { method: "POST", body: JSON.stringify({ env: "prod" }), token });
    expect(post.status).toBe(403);
    expect((await t.request("/api/v1/dr/tests", { token })).status).toBe(403);
    expect(recorded()).toBe(before);
  });
});

describe("dr reports", () => {
  test("newest first, RTO and RPO readable, the failed step and why; --since and --env narrow it", async () => {
    const at = (iso: string) => ({ startedAt: iso, backupId: newest.prod!, rpoSec: 4 * 3600 + 120 });
    const old = insertDrTest(t.deps.db, {
      id: Bun.randomUUIDv7(),
      envId: ids.prod!,
      backupId: newest.prod!,
      jobId: "j1",
    });
    markDrTestStarted(t.deps.db, old.id, at(new Date().toISOString()));
    passDrTest(t.deps.db, old.id, 83_400);
    const bad = insertDrTest(t.deps.db, {
      id: Bun.randomUUIDv7(),
      envId: ids.prod!,
      backupId: newest.prod!,
      jobId: "j2",
    });
    markDrTestStarted(t.deps.db, bad.id, { ...at(new Date().toISOString()), rpoSec: 3 * 86400 + 7200 });
    t.deps.db
      .update(drTests)
      .set({ failedStep: "verify", reason: "db.dump does not match its manifest\nmore" })
      .where(eq(drTests.id, bad.id))
      .run();
    failDrTest(t.deps.db, bad.id, "job error");

    const r = await cli("dr", "reports", "--env", "prod");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^WHEN\s+ENV\s+OUTCOME\s+RTO\s+RPO\s+HOST\s+BACKUP\s+FAILED AT$/);
    // Newest first: the failure, then the pass, then the one still queued from the first test
    // (queued through the API: on this standalone host, with why no other).
    expect(lines[1]).toMatch(/prod\s+failed\s+-\s+3d2h\s+-\s+\S+\s+verify: db.dump does not match its manifest$/);
    expect(lines[2]).toMatch(/prod\s+passed\s+1m23s\s+4h02m\s+-\s/);
    expect(lines[3]).toMatch(/prod\s+running\s+-\s+-\s+\S+ \(no other host\)\s/);
    expect(lines).toHaveLength(4);

    const json = JSON.parse((await cli("dr", "reports", "--json", "--env", "prod")).stdout) as {
      tests: { id: string; outcome: string; reason: string; failedStep: string; rtoMs: number | null }[];
    };
    expect(json.tests[0]).toMatchObject({ id: bad.id, outcome: "failed", failedStep: "verify", rtoMs: null });
    expect(json.tests[1]).toMatchObject({ id: old.id, outcome: "passed", rtoMs: 83_400, host: null, hostReason: null });
    expect(json.tests[2]).toMatchObject({ outcome: "running", hostReason: "no other host" });
    const future = await cli("dr", "reports", "--since", "2999-01-01", "--json");
    expect(JSON.parse(future.stdout)).toEqual({ tests: [] });
    const invalid = await cli("dr", "reports", "--since", "last tuesday");
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toContain("invalid time");
  });

  test("the metrics: last outcome, last success and its RTO per env", async () => {
    const text = await (await t.request("/api/v1/metrics")).text();
    expect(text).toContain('odooops_dr_test_last_outcome{env="prod",tier="production"} 0');
    expect(text).toContain('odooops_dr_test_rto_seconds{env="prod",tier="production"} 83.4');
    expect(text).toMatch(/^odooops_dr_test_last_success_timestamp_seconds\{env="prod",tier="production"\} \d+/m);
    // Never finished a test: no series (the alert's "never passed" rule covers it).
    expect(text).not.toContain('odooops_dr_test_last_outcome{env="shop"');
  });

  test("formatAge", () => {
    expect([59, 600, 3600, 4 * 3600 + 120, 47 * 3600, 3 * 86400 + 7200].map(formatAge)).toEqual([
      "59s",
      "10m00s",
      "1h00m",
      "4h02m",
      "47h00m",
      "3d2h",
    ]);
  });
});

describe("the schedule", () => {
  const names = (o: object) => schedulesFor(ConfigSchema.parse(o)).map((s) => `${s.name} ${s.pattern}`);
  test('weekly by default on the coordinator; off or "" turns it off; a bad pattern is refused', () => {
    expect(names({})).toContain("dr.test 0 4 * * 0");
    expect(names({ dr: { testSchedule: "0 2 * * 3" } })).toContain("dr.test 0 2 * * 3");
    expect(names({ dr: { testSchedule: "off" } }).some((n) => n.startsWith("dr.test"))).toBe(false);
    expect(names({ dr: { testSchedule: "" } }).some((n) => n.startsWith("dr.test"))).toBe(false);
    expect(names({ role: "agent" }).some((n) => n.startsWith("dr.test"))).toBe(false);
    expect(() => ConfigSchema.parse({ dr: { testSchedule: "weekly" } })).toThrow("invalid cron pattern");
  });

  test("a tick queues one test per production env with a restorable backup", async () => {
    const before = t.deps.jobs.queue.list({ kind: "dr-test", limit: 100 }).length;
    await drTestSchedule("0 4 * * 0").tick(t.deps);
    const after = t.deps.jobs.queue.list({ kind: "dr-test", limit: 100 });
    expect(after.length).toBe(before + 1);
    expect(after.map((j) => j.target)).toContain("prod");
    expect(after.some((j) => j.target === "prod2" || j.target === "prod3")).toBe(false);
  });
});

describe("the dr_tests table", () => {
  test("is written by src/dr/dr-test-records.ts only", () => {
    const root = join(import.meta.dir, "../..");
    const writers = [...new Bun.Glob("src/**/*.ts").scanSync(root)].filter((path) =>
      /\.(update|insert|delete)\(\s*drTests\b/.test(readFileSync(join(root, path), "utf8")),
    );
    expect(writers).toEqual(["src/dr/dr-test-records.ts"]);
  });
});
