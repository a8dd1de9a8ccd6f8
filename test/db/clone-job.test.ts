/**
 * `db clone` end to end: production (stand-in demo data: partners with e-mails and phones, a
 * mail server, messages, attachments) cloned into an existing staging env through the job
 * engine. The copy carries none of production's e-mails or phones (PII scan), is neutralized
 * (crons and mail servers off, its own URL and database.uuid) and served by staging; production
 * is untouched. A crash while sanitizing fails the clone and staging keeps its database.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { collectPii, scanForPii, type PiiNeedles } from "../../src/db/backup/pii";
import { cloneJob } from "../../src/db/clone-job";
import type { DbOperationResponse } from "../../src/db/schema";
import { envResources } from "../../src/env/resources";
import { envUrl } from "../../src/env/list";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { startEnvHost } from "../support/env-host";
import { randomSuffix } from "../support/tmp";
import { crashThenResume, runJob } from "../support/agents";
import { answer } from "./serving";
import { odooPasswordMatches } from "../support/odoo-password";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let admin: SQL;
const prod = `cp-prod-${randomSuffix(5)}`;
const stage = `cp-stage-${randomSuffix(5)}`;
let needles: PiiNeedles;

beforeAll(async () => {
  // Production's defaults (4 CPUs, 9 workers) do not fit the test machine.
  // No agent of its own: each test runs its jobs, or lets an agent die in the middle.
  host = await startEnvHost({
    agent: false,
    configOverrides: { tiers: { production: { cpus: 1, memoryMb: 1024, workers: 0 } } },
  });
  admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password });
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await host?.stop();
}, 120_000);

const env = (slug: string) => host.env(slug);
/** The PII scan reads the env's own tables: run it as the env's role, as the daemon does. */
const asEnv = <T>(slug: string, fn: (sql: SQL) => Promise<T>) => host.asEnv(slug, fn);
const withDb = <T>(db: string, fn: (sql: SQL) => Promise<T>) => host.pg.query(db, fn);

async function param(db: string, key: string): Promise<string | undefined> {
  return withDb(
    db,
    async (sql) => (await sql<{ value: string }[]>`SELECT value FROM ir_config_parameter WHERE key = ${key}`)[0]?.value,
  );
}

async function createEnv(name: string, tier: string, extra: Record<string, unknown> = {}): Promise<void> {
  const res = await host.api.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name, tier, modules: ["base", "web", "mail"], ...extra }),
  });
  expect(res.status).toBe(202);
  const job = await runJob(host, ((await res.json()) as { job: JobView }).job.id);
  expect(job.error).toBeNull();
}

function postClone(target: string, body: Record<string, unknown>): Promise<Response> {
  return host.api.request(`/api/v1/environments/${target}/db/clone`, { method: "POST", body: JSON.stringify(body) });
}

async function serving(slug: string): Promise<void> {
  const e = env(slug);
  expect(e.status).toBe("active");
  expect(await answer(host, e.domain, "/web/health?db_server_status=1")).toMatchObject({ status: 200 });
  expect(await answer(host, e.domain, "/web/login")).toMatchObject({ status: 200 });
}

function filestoreOf(slug: string): string {
  const e = env(slug);
  return join(envResources(e, host.deps).dataDir, "filestore", e.dbName);
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
    .sort();
}

let stageUuidAfterClone = "";
let cloneJobId = "";

describe("db clone production → staging", () => {
  test("two envs: production with demo data (PII), staging", async () => {
    await createEnv(prod, "production", { demo: true });
    await createEnv(stage, "staging");
    needles = await asEnv(prod, collectPii);
    expect(needles.emails.length).toBeGreaterThanOrEqual(8);
    expect(needles.phones.length).toBeGreaterThanOrEqual(8);
    // Staging's own data must not survive the clone.
    await withDb(env(stage).dbName, (sql) => sql`INSERT INTO res_partner (name) VALUES ('Staging only')`);
  }, 300_000);

  test("refusals: into production without forceProduction (400, says so), unknown target 404, onto itself 400", async () => {
    const toProd = await postClone(prod, { from: stage });
    expect(toProd.status).toBe(400);
    expect(((await toProd.json()) as { error: { message: string } }).error.message).toContain("--force-production");
    expect((await postClone("nope", { from: prod })).status).toBe(404);
    expect((await postClone(stage, { from: stage })).status).toBe(400);
  });

  test("clone: no source PII remains, neutralized, staging's URL and a new uuid, served by staging; production untouched", async () => {
    const prodDb = env(prod).dbName;
    const stageDb = env(stage).dbName;
    const prodUuid = await param(prodDb, "database.uuid");
    const prodUsers = await withDb(prodDb, async (sql) =>
      (await sql<{ login: string; password: string | null }[]>`SELECT login, password FROM res_users ORDER BY id`).map(
        (r) => ({ ...r }),
      ),
    );

    const res = await postClone(stage, { from: prod });
    expect(res.status).toBe(202);
    const out = (await res.json()) as DbOperationResponse;
    expect(out.plan).toMatchObject({
      operation: "clone",
      anonymize: true,
      neutralize: true,
      preBackup: false,
      source: { slug: prod, tier: "production" },
    });
    const job = await runJob(host, out.job!.id);
    cloneJobId = job.id;
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    expect(job.steps.map((s) => [s.name, s.status])).toEqual([
      ["pre-backup", "skipped"],
      ["copy", "done"],
      ["sanitize", "done"],
      ["stop", "done"],
      ["swap", "done"],
      ["odoo-neutralize", "done"],
      ["modules", "done"],
      ["start", "done"],
      ["health", "done"],
      ["finalize", "done"],
    ]);
    const result = job.result as {
      method: string;
      reason: string;
      filestore: string;
      anonymized: boolean;
      neutralized: boolean;
    };
    // Anonymized while copied: never a template copy (it would copy production's pages).
    expect(result).toMatchObject({
      anonymized: true,
      neutralized: true,
      filestore: "anonymized",
      method: "stream",
      reason: "anonymized: rows transformed while streamed",
    });
    // `odoo neutralize` ran in the env's image (Odoo 17 has it), after the SQL neutralization.
    const log = host.deps.jobs.logs.read(job.id, 0).text;
    expect(log).toContain("Neutralization finished");
    expect(log).toContain(
      "anonymization rules, lowest first: templates/anonymize-default.yaml < no .odooops/anonymize.yaml (project default has no repository)",
    );
    expect(log).toContain(`database ${prodDb} → `);
    expect(log).toMatch(/res_partner: \d+ rows copied anonymized \(/);
    expect(log).toMatch(/\d+ attachment\(s\) replaced by placeholders, \d+ placeholder file\(s\) written/);

    const hits = await asEnv(stage, (sql) => scanForPii(sql, needles));
    expect(hits).toEqual([]);
    await withDb(stageDb, async (sql) => {
      // Production's partners arrived (as many, staging's own gone), their names anonymized.
      const names = (await sql<{ name: string | null }[]>`SELECT name FROM res_partner`).map((r) => r.name);
      const prodNames = await withDb(prodDb, async (p) =>
        (await p<{ name: string | null }[]>`SELECT name FROM res_partner`).map((r) => r.name),
      );
      expect(names.length).toBe(prodNames.length);
      expect(prodNames).toContain("Azure Interior");
      for (const n of names) if (n !== null) expect(n).toMatch(/^Person [A-HJKMNP-S]{8}$/);
      expect((await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_cron WHERE active`)[0]?.n).toBe(0);
      expect((await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_cron`)[0]?.n).toBeGreaterThan(0);
      expect((await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_mail_server WHERE active`)[0]?.n).toBe(0);
      const users = await sql<
        { login: string; password: string | null }[]
      >`SELECT login, password FROM res_users WHERE password IS NOT NULL ORDER BY id`;
      for (const u of users) expect(prodUsers.find((p) => p.login === u.login)?.password).not.toBe(u.password);
    });
    expect(await param(stageDb, "web.base.url")).toBe(envUrl(env(stage), host.config));
    expect(await param(stageDb, "database.is_neutralized")).toBe("True");
    stageUuidAfterClone = (await param(stageDb, "database.uuid")) ?? "";
    expect(stageUuidAfterClone).not.toBe("");
    expect(stageUuidAfterClone).not.toBe(prodUuid);

    // The filestore holds placeholders only (the stand-in's attachments are all business data:
    // partner images, PDFs), each where its row says, with the row's checksum and size.
    const prodFiles = files(filestoreOf(prod));
    expect(prodFiles.length).toBeGreaterThan(3);
    const stageFiles = files(filestoreOf(stage));
    expect(stageFiles.length).toBeGreaterThan(0);
    expect(stageFiles.filter((f) => prodFiles.includes(f))).toEqual([]);
    const rows = await withDb(
      stageDb,
      (sql) =>
        sql<
          { f: string; c: string; n: number }[]
        >`SELECT store_fname AS f, checksum AS c, file_size AS n FROM ir_attachment WHERE store_fname IS NOT NULL`,
    );
    expect(rows.length).toBeGreaterThan(3);
    for (const r of rows) {
      const data = readFileSync(join(filestoreOf(stage), r.f));
      expect([createHash("sha1").update(data).digest("hex"), data.length]).toEqual([r.c, r.n]);
    }

    const dbs = (
      await admin<{ d: string }[]>`SELECT datname AS d FROM pg_database WHERE starts_with(datname, ${stageDb})`
    ).map((r) => r.d);
    expect(dbs).toEqual([stageDb]);
    await serving(stage);

    // Production: same data, still active, crons still on, PII still there (it is production).
    expect(await param(prodDb, "database.uuid")).toBe(prodUuid);
    expect((await asEnv(prod, (sql) => scanForPii(sql, needles))).length).toBeGreaterThan(0);
    expect(
      await withDb(
        prodDb,
        async (sql) => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_cron WHERE active`)[0]?.n,
      ),
    ).toBeGreaterThan(0);
    await serving(prod);
  }, 300_000);

  test("H1: the anonymized copy's users log in with its own random password, not the old constant; shown once to whoever cloned, in no job log", async () => {
    const users = await withDb(
      env(stage).dbName,
      async (sql) =>
        sql<
          { login: string; password: string }[]
        >`SELECT login, password FROM res_users WHERE password IS NOT NULL AND password <> ''`,
    );
    expect(users.map((u) => u.login)).toEqual(expect.arrayContaining(["admin", "demo"]));
    // The attack: the constant every copy used to get.
    for (const u of users) expect(odooPasswordMatches("odooops-dev", u.password)).toBe(false);

    const first = (await (await host.api.request(`/api/v1/jobs/${cloneJobId}`)).json()) as JobView;
    const shown = (first.result?.secrets as { adminPassword?: string } | undefined)?.adminPassword ?? "";
    expect(shown.length).toBeGreaterThanOrEqual(20);
    for (const u of users) expect(odooPasswordMatches(shown, u.password)).toBe(true);
    const again = (await (await host.api.request(`/api/v1/jobs/${cloneJobId}`)).json()) as JobView;
    expect(JSON.stringify(again)).not.toContain(shown);
    expect(host.deps.jobs.logs.read(cloneJobId, 0).text).not.toContain(shown);
    expect(JSON.stringify(host.deps.db.$client.query("select output from job_steps").all())).not.toContain(shown);
    // Kept sealed on the target env: an admin reads it again like any env's admin password.
    const read = (await (await host.api.request(`/api/v1/environments/${stage}/admin-password`)).json()) as {
      password: string;
    };
    expect(read.password).toBe(shown);
  }, 60_000);

  test("a streamed clone without anonymizing, killed -9 right after sanitizing (not safe to repeat): failed, staging keeps its database and serves", async () => {
    const stageDb = env(stage).dbName;
    const res = await postClone(stage, { from: prod, method: "stream", anonymize: false });
    expect(res.status).toBe(202);
    const out = (await res.json()) as DbOperationResponse;
    expect(out.plan).toMatchObject({ anonymize: false, neutralize: true, method: "stream" });
    const idx = cloneJob.steps.findIndex((s) => s.name === "sanitize");
    const job = await crashThenResume(host, out.job!.id, idx);
    expect(job.status).toBe("failed");
    expect(job.error).toContain("not safe to repeat");
    expect(job.steps.find((s) => s.name === "copy")?.status).toBe("undone");
    expect(job.steps.find((s) => s.name === "swap")?.status).toBe("pending");
    expect(await param(stageDb, "database.uuid")).toBe(stageUuidAfterClone);
    const dbs = (
      await admin<{ d: string }[]>`SELECT datname AS d FROM pg_database WHERE starts_with(datname, ${stageDb})`
    ).map((r) => r.d);
    expect(dbs).toEqual([stageDb]);
    expect(readdirSync(join(filestoreOf(stage), "..")).sort()).toEqual([stageDb]);
    await serving(stage);
  }, 300_000);

  test("the same streamed clone, not interrupted: method stream, production's data without anonymization, neutralized", async () => {
    const res = await postClone(stage, { from: prod, method: "stream", anonymize: false });
    const job = await runJob(host, ((await res.json()) as DbOperationResponse).job!.id);
    expect(job.error).toBeNull();
    expect(job.result).toMatchObject({ method: "stream", reason: "requested", anonymized: false, neutralized: true });
    const stageDb = env(stage).dbName;
    expect((await asEnv(stage, (sql) => scanForPii(sql, needles))).length).toBeGreaterThan(0);
    expect(
      await withDb(
        stageDb,
        async (sql) => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_cron WHERE active`)[0]?.n,
      ),
    ).toBe(0);
    expect(await param(stageDb, "database.uuid")).not.toBe(stageUuidAfterClone);
    await serving(stage);
  }, 300_000);

  test("restore production's backup into staging (--to): anonymized and neutralized like a clone", async () => {
    const b = await host.api.request(`/api/v1/environments/${prod}/backups`, { method: "POST" });
    const backupJob = await runJob(host, ((await b.json()) as JobView).id);
    expect(backupJob.status).toBe("succeeded");
    await withDb(env(stage).dbName, (sql) => sql`INSERT INTO res_partner (name) VALUES ('Staging only again')`);
    const res = await host.api.request(`/api/v1/environments/${stage}/db/restore`, {
      method: "POST",
      body: JSON.stringify({ backup: "latest", from: prod }),
    });
    expect(res.status).toBe(202);
    const out = (await res.json()) as DbOperationResponse;
    expect(out.plan).toMatchObject({
      operation: "restore",
      anonymize: true,
      neutralize: true,
      backup: { id: String(backupJob.result?.backupId) },
    });
    const job = await runJob(host, out.job!.id);
    expect(job.error).toBeNull();
    expect(job.steps.filter((s) => s.status === "done").map((s) => s.name)).toEqual([
      "fetch",
      "sanitize",
      "stop",
      "swap",
      "odoo-neutralize",
      "modules",
      "start",
      "health",
      "finalize",
    ]);
    const stageDb = env(stage).dbName;
    expect(await asEnv(stage, (sql) => scanForPii(sql, needles))).toEqual([]);
    const names = await withDb(stageDb, async (sql) =>
      (await sql<{ name: string | null }[]>`SELECT name FROM res_partner`).map((r) => r.name),
    );
    const prodNames = await withDb(env(prod).dbName, async (sql) =>
      (await sql<{ name: string | null }[]>`SELECT name FROM res_partner`).map((r) => r.name),
    );
    expect(names.length).toBe(prodNames.length);
    for (const n of names) if (n !== null) expect(n).toMatch(/^Person [A-HJKMNP-S]{8}$/);
    expect(
      await withDb(
        stageDb,
        async (sql) => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_cron WHERE active`)[0]?.n,
      ),
    ).toBe(0);
    expect(await param(stageDb, "web.base.url")).toBe(envUrl(env(stage), host.config));
    expect(await param(stageDb, "database.uuid")).not.toBe(await param(env(prod).dbName, "database.uuid"));
    // Restored with production's files, anonymized in place: placeholders only, each where its row says.
    expect(host.deps.jobs.logs.read(job.id, 0).text).toMatch(
      /\d+ attachment\(s\) replaced by placeholders, [1-9]\d* source file\(s\) removed/,
    );
    const prodFiles = files(filestoreOf(prod));
    expect(files(filestoreOf(stage)).filter((f) => prodFiles.includes(f))).toEqual([]);
    const rows = await withDb(
      stageDb,
      (sql) =>
        sql<
          { f: string; c: string }[]
        >`SELECT store_fname AS f, checksum AS c FROM ir_attachment WHERE store_fname IS NOT NULL`,
    );
    for (const r of rows)
      expect(
        createHash("sha1")
          .update(readFileSync(join(filestoreOf(stage), r.f)))
          .digest("hex"),
      ).toBe(r.c);
    await serving(stage);
  }, 300_000);

  test("destroy both envs", async () => {
    for (const slug of [stage, prod]) {
      // Production needs its name again (confirm) and gets a final backup first.
      const res = await host.api.request(`/api/v1/environments/${slug}?confirm=${slug}`, { method: "DELETE" });
      expect(res.status).toBe(202);
      expect((await runJob(host, ((await res.json()) as JobView).id)).status).toBe("succeeded");
    }
  }, 240_000);
});
