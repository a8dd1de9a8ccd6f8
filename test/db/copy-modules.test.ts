/**
 * A copy that does not match the code its new env serves (real Odoo: prod at 17.0.1.0 cloned
 * into staging serving 17.0.1.1 → UndefinedColumn on every read, while the job said success).
 * For real (PostgreSQL, dockerd, nginx, the stand-in): after the swap the `db migrate` plan is
 * applied (non-production default) or refused with the plan (production default, or asked), the
 * copy keeps its own URL frozen (web.base.url.freeze), and the next deployment's checksum
 * baseline covers the copy (unversioned changes are applied too).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { cloneJob } from "../../src/db/clone-job";
import { newReplaceToken } from "../../src/db/replace";
import { moduleMismatchPolicy } from "../../src/db/replace-steps";
import type { DeployPlan } from "../../src/deploy/schema";
import { environments } from "../../src/env/env.sql";
import { envUrl } from "../../src/env/list";
import { listDatabases, pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { shopManifest, startDeployEnv, type DeployEnv } from "../support/deploy-env";

let t: DeployEnv;
const stage = "stage";

beforeAll(async () => {
  t = await startDeployEnv({
    env: { name: "src", tier: "dev" },
    files: { "shop_extra/__manifest__.py": shopManifest("1.0") },
    configOverrides: {
      deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], runTests: false, rehearse: false },
    },
  });
}, 240_000);
afterAll(async () => {
  await t?.stop();
}, 120_000);

const row = (slug: string) => t.host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;

async function onDb<T>(db: string, fn: (sql: ReturnType<typeof pgConnect>) => Promise<T>): Promise<T> {
  const sql = pgConnect({
    host: t.host.pg.host,
    port: t.host.pg.port,
    user: t.host.pg.user,
    password: t.host.pg.password,
    database: db,
  });
  try {
    return await fn(sql);
  } finally {
    await sql.close();
  }
}
const version = (db: string) =>
  onDb(
    db,
    async (sql) =>
      (
        await sql<
          { v: string }[]
        >`SELECT latest_version AS v FROM ir_module_module WHERE name = 'shop_extra' AND state = 'installed'`
      )[0]?.v,
  );
const param = (db: string, key: string) =>
  onDb(
    db,
    async (sql) => (await sql<{ v: string }[]>`SELECT value AS v FROM ir_config_parameter WHERE key = ${key}`)[0]?.v,
  );

async function deploy(slug: string, body: Record<string, unknown> = {}): Promise<JobView> {
  const r = await t.api("POST", `/environments/${slug}/deployments`, body);
  expect(r.status).toBe(202);
  return t.waitJob(((await r.json()) as { job: JobView }).job.id);
}

describe("a copy whose modules differ from the serving image", () => {
  test("policy: apply for non-production, refuse for production, unless asked", () => {
    expect(moduleMismatchPolicy({}, "dev")).toBe("apply");
    expect(moduleMismatchPolicy({}, "staging")).toBe("apply");
    expect(moduleMismatchPolicy({}, "production")).toBe("refuse");
    expect(moduleMismatchPolicy({ onModuleMismatch: "apply" }, "production")).toBe("apply");
    expect(moduleMismatchPolicy({ onModuleMismatch: "refuse" }, "dev")).toBe("refuse");
  });

  test("src serves shop_extra 17.0.1.0; stage serves 17.0.1.1", async () => {
    expect((await deploy(t.slug)).error).toBeNull();
    expect(await version(row(t.slug).dbName)).toBe("17.0.1.0");
    const res = await t.api("POST", "/environments", { name: stage, tier: "dev" });
    expect(res.status).toBe(202);
    expect((await t.waitJob(((await res.json()) as { job: JobView }).job.id)).error).toBeNull();
    await t.repo.commit({ "shop_extra/__manifest__.py": shopManifest("1.1") });
    expect((await deploy(stage)).error).toBeNull();
    expect(await version(row(stage).dbName)).toBe("17.0.1.1");
  }, 300_000);

  test("clone src → stage: the copy is updated to 17.0.1.1 before Odoo serves it; its URL is stage's, frozen", async () => {
    const res = await t.api("POST", `/environments/${stage}/db/clone`, { from: t.slug });
    expect(res.status).toBe(202);
    const job = await t.waitJob(((await res.json()) as { job: JobView }).job.id);
    expect(job.error).toBeNull();
    expect(job.steps.find((s) => s.name === "modules")?.status).toBe("done");
    const log = t.jobLog(job.id);
    expect(log).toContain("updating 1 module(s) of the copy");
    expect(log).toContain("shop_extra 17.0.1.0 → 17.0.1.1 (version)");
    const db = row(stage).dbName;
    expect(await version(db)).toBe("17.0.1.1");
    expect(await param(db, "web.base.url")).toBe(envUrl(row(stage), t.host.config));
    expect(await param(db, "web.base.url.freeze")).toBe("True");
    // The source is untouched.
    expect(await version(row(t.slug).dbName)).toBe("17.0.1.0");
  }, 300_000);

  test("the next deployment after the copy updates repo modules by content (the baseline does not describe the copy)", async () => {
    const r = await t.api("POST", `/environments/${stage}/deployments`, { dryRun: true });
    expect(r.status).toBe(200);
    const plan = (await r.json()) as { plan: DeployPlan };
    expect(plan.plan.modules.update).toEqual([
      { name: "shop_extra", from: "17.0.1.1", to: "17.0.1.1", reason: "content" },
    ]);
    const job = await deploy(stage);
    expect(job.error).toBeNull();
    expect(t.jobLog(job.id)).toContain("shop_extra");
    // Once deployed, the baseline is that deployment's again: nothing to do.
    const again = (await (await t.api("POST", `/environments/${stage}/deployments`, { dryRun: true })).json()) as {
      plan: DeployPlan;
    };
    expect(again.plan.modules.update).toEqual([]);
  }, 300_000);

  test("refused (production's default): the job fails with the plan, stage is back on its own database, nothing left over", async () => {
    const target = row(stage);
    const before = await onDb(
      target.dbName,
      async (sql) =>
        (await sql<{ v: string }[]>`SELECT value AS v FROM ir_config_parameter WHERE key = 'database.uuid'`)[0]?.v,
    );
    const source = row(t.slug);
    const job = t.host.deps.jobs.enqueue(
      cloneJob,
      {
        envId: target.id,
        slug: target.slug,
        sourceEnvId: source.id,
        sourceSlug: source.slug,
        token: newReplaceToken(),
        keepOld: false,
        anonymize: false,
        neutralize: true,
        rebase: true,
        preBackupId: null,
        method: "auto",
        onModuleMismatch: "refuse",
      },
      "test",
    );
    const done = await t.waitJob(job.id);
    expect(done.status).toBe("failed");
    expect(done.error).toContain("the copy's modules differ from what stage serves");
    expect(done.error).toContain("shop_extra 17.0.1.0 → 17.0.1.1 (version)");
    expect(await version(target.dbName)).toBe("17.0.1.1");
    expect(await param(target.dbName, "database.uuid")).toBe(before);
    expect(await onDb("postgres", (sql) => listDatabases(sql, target.dbName))).toEqual([target.dbName]);
    expect(row(stage).status).toBe("active");
    expect((await t.host.viaNginx(target.domain, "/web/health")).status).toBe(200);
  }, 300_000);
});
