/**
 * A project's `.odooops/anonymize.yaml` applied by a real clone (job engine, real PostgreSQL, the
 * Odoo stand-in's demo data): read from the project's git mirror at the commit the source env
 * serves, else at the default branch's head; the job log says which file was used; the PII check
 * still runs after the project's rules (and fails a clone whose rules leave source PII behind).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { eq } from "drizzle-orm";
import { collectPii, scanForPii, type PiiNeedles } from "../../src/db/backup/pii";
import type { DbOperationResponse } from "../../src/db/schema";
import { deployments } from "../../src/deploy/deploy.sql";
import { environments } from "../../src/env/env.sql";
import type { JobView } from "../../src/jobs/view";
import { makeRepo, type TestRepo } from "../git/repo";
import { runJob } from "../support/agents";
import { startEnvHost } from "../support/env-host";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let repo: TestRepo;
let repoDir: string;
const prod = `ar-prod-${randomSuffix(5)}`;
const stage = `ar-stage-${randomSuffix(5)}`;
let needles: PiiNeedles;
let servedSha = "";

const SERVED_RULES = `# keeps street addresses (not PII for this project), its own e-mail pattern
version: 1
tables:
  res_partner:
    columns:
      street: { keep: true }
      email: { template: "customer-{id}@corp.invalid" }
`;
const HEAD_RULES = `version: 1
tables:
  res_partner:
    columns:
      email: { template: "head-{id}@corp.invalid" }
  mail_message:
    enabled: false
`;

beforeAll(async () => {
  host = await startEnvHost({
    agent: false,
    configOverrides: { tiers: { production: { cpus: 1, memoryMb: 1024, workers: 0 } } },
  });
  repoDir = makeTempDir("odooops-anonymize-repo-");
  repo = await makeRepo(repoDir);
  servedSha = await repo.commit({ ".odooops/anonymize.yaml": SERVED_RULES, "README.md": "addons\n" });
  await repo.commit({ ".odooops/anonymize.yaml": HEAD_RULES });
  const res = await host.api.request("/api/v1/projects/default", {
    method: "PUT",
    body: JSON.stringify({ repoUrl: repo.url }),
  });
  expect(res.status).toBe(200);
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (repoDir) removeTempDir(repoDir);
}, 120_000);

const env = (slug: string) => host.env(slug);
/** The PII scan reads the env's own tables: run it as the env's role, as the daemon does. */
const asEnv = <T>(slug: string, fn: (sql: SQL) => Promise<T>) => host.asEnv(slug, fn);
const withDb = <T>(db: string, fn: (sql: SQL) => Promise<T>) => host.pg.query(db, fn);

async function createEnv(name: string, tier: string, extra: Record<string, unknown> = {}): Promise<void> {
  const res = await host.api.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name, tier, modules: ["base", "web", "mail"], ...extra }),
  });
  expect(res.status).toBe(202);
  const job = await runJob(host, ((await res.json()) as { job: JobView }).job.id);
  expect(job.error).toBeNull();
}

async function clone(): Promise<JobView> {
  const res = await host.api.request(`/api/v1/environments/${stage}/db/clone`, {
    method: "POST",
    body: JSON.stringify({ from: prod }),
  });
  expect(res.status).toBe(202);
  const out = (await res.json()) as DbOperationResponse;
  expect(out.plan).toMatchObject({ anonymize: true });
  return runJob(host, out.job!.id);
}

const partners = (db: string) =>
  withDb(db, async (sql) =>
    (
      await sql<
        { id: number; email: string | null; street: string | null }[]
      >`SELECT id, email, street FROM res_partner ORDER BY id`
    ).map((r) => ({ ...r })),
  );

describe("db clone with a project's anonymization rules", () => {
  test("production with demo data (PII) and a staging env; production serves the first commit", async () => {
    await createEnv(prod, "production", { demo: true });
    await createEnv(stage, "staging");
    needles = await asEnv(prod, collectPii);
    expect(needles.emails.length).toBeGreaterThan(0);
    // What a deploy of that commit records (deploys themselves are tested in test/deploy).
    const d = host.deps.db
      .insert(deployments)
      .values({ envId: env(prod).id, release: 2, commitSha: servedSha, branch: "main", status: "success" })
      .returning()
      .get();
    host.deps.db
      .update(environments)
      .set({ currentDeploymentId: d.id })
      .where(eq(environments.id, env(prod).id))
      .run();
  }, 300_000);

  test("the served commit's rules apply over the defaults: its e-mail pattern, streets kept, the other defaults still run, PII check passes", async () => {
    const source = await partners(env(prod).dbName);
    const job = await clone();
    expect(job.error).toBeNull();
    const log = host.deps.jobs.logs.read(job.id, 0).text;
    expect(log).toContain(
      `anonymization rules, lowest first: templates/anonymize-default.yaml < .odooops/anonymize.yaml at ${servedSha.slice(0, 12)}, the commit ${prod} serves`,
    );
    expect(log).toContain("PII check passed");
    const copy = await partners(env(stage).dbName);
    expect(copy.map((p) => p.id)).toEqual(source.map((p) => p.id));
    for (const p of copy) {
      const before = source.find((s) => s.id === p.id)!;
      expect(p.email).toBe(before.email === null ? null : `customer-${p.id}@corp.invalid`);
      expect(p.street).toBe(before.street);
    }
    expect(source.some((p) => p.street !== null)).toBe(true);
    // Default rules the override did not name: phones faked (still phone-shaped), messages rewritten.
    expect(await asEnv(stage, (sql) => scanForPii(sql, needles))).toEqual([]);
    const phones = await withDb(env(stage).dbName, async (sql) =>
      (await sql<{ phone: string }[]>`SELECT phone FROM res_partner WHERE phone IS NOT NULL`).map((r) => r.phone),
    );
    expect(phones.length).toBeGreaterThan(0);
    for (const ph of phones) expect(ph).toMatch(/^\+44 7700 900\d{3}$/);
  }, 300_000);

  test("an env serving no deployed commit gets the default branch head's rules; they keep messages, so the PII check fails the clone and staging keeps its database", async () => {
    host.deps.db
      .update(environments)
      .set({ currentDeploymentId: null })
      .where(eq(environments.id, env(prod).id))
      .run();
    const head = await repo.git("rev-parse", "HEAD");
    const before = await partners(env(stage).dbName);
    const job = await clone();
    expect(job.status).toBe("failed");
    expect(job.error).toContain("PII check failed");
    expect(job.error).toContain("in mail_message.");
    const log = host.deps.jobs.logs.read(job.id, 0).text;
    expect(log).toContain(
      `anonymization rules, lowest first: templates/anonymize-default.yaml < .odooops/anonymize.yaml at ${head.slice(0, 12)}, the head of main (${prod} serves no deployed commit)`,
    );
    expect(await partners(env(stage).dbName)).toEqual(before);
  }, 300_000);

  test("an invalid rules file fails the clone naming the commit, file, line and key", async () => {
    const bad = await repo.commit({
      ".odooops/anonymize.yaml": "version: 1\ntables:\n  res_partner:\n    columns:\n      email: { template: 7 }\n",
    });
    const job = await clone();
    expect(job.status).toBe("failed");
    expect(job.error).toContain(
      `commit ${bad.slice(0, 12)}: invalid anonymization rules: .odooops/anonymize.yaml:5: tables.res_partner.columns.email: `,
    );
  }, 300_000);

  test("no rules file at the head: the defaults, said so", async () => {
    const head = await repo.commit({ ".odooops/anonymize.yaml": null });
    const job = await clone();
    expect(job.error).toBeNull();
    expect(host.deps.jobs.logs.read(job.id, 0).text).toContain(
      `anonymization rules, lowest first: templates/anonymize-default.yaml < no .odooops/anonymize.yaml at ${head.slice(0, 12)}, the head of main`,
    );
    for (const p of await partners(env(stage).dbName))
      if (p.email !== null) expect(p.email).toMatch(/^u[0-9a-f]{16}@example\.invalid$/);
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
