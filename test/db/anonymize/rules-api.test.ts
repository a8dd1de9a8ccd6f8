/**
 * Rules without a repository, detect and the clone dry run through the API (app.request) and the
 * real CLI (citty, in-process, its fetch injected), on a real host: PostgreSQL, the Odoo stand-in
 * (production with demo data plus a custom module's personal column), nginx, the job engine.
 * - `db anonymize-rules --detect` lists the custom column, not the covered ones;
 * - `db clone --dry-run` shows per table the rows each rule would change and creates nothing;
 * - a bad `--rules` file: `file:line: key.path`, no job, nothing created;
 * - a host rules file and a `--rules` file both take effect in a real clone, and the job log names
 *   every layer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { count, eq } from "drizzle-orm";
import type { AnonymizeDetectReport, DbOperationPlan, DbOperationResponse } from "../../../src/db/schema";
import { environments, type Environment } from "../../../src/env/env.sql";
import { envDbLogin } from "../../../src/env/tenant-login";
import { withTenant } from "../../../src/host/postgres";
import { jobs } from "../../../src/jobs/jobs.sql";
import type { JobView } from "../../../src/jobs/view";
import { runJob } from "../../support/agents";
import { runCliWith } from "../../support/cli";
import { startEnvHost } from "../../support/env-host";
import { makeTempDir, randomSuffix, removeTempDir } from "../../support/tmp";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let dir: string;
const prod = `ar-prod-${randomSuffix(5)}`;
const stage = `ar-stage-${randomSuffix(5)}`;
const cli = (...argv: string[]) =>
  runCliWith(argv, {
    fetch: host.api.fetch,
    env: { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: host.api.token },
  });

beforeAll(async () => {
  host = await startEnvHost({
    agent: false,
    configOverrides: { tiers: { production: { cpus: 1, memoryMb: 1024, workers: 0 } } },
  });
  dir = makeTempDir("odooops-rules-api-");
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (dir) removeTempDir(dir);
}, 120_000);

const env = (slug: string): Environment =>
  host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
const asEnv = <T>(slug: string, fn: Parameters<typeof withTenant<T>>[1]) =>
  withTenant(envDbLogin(host.deps, env(slug)), fn);
const jobCount = () => host.deps.db.select({ n: count() }).from(jobs).get()?.n ?? -1;

async function createEnv(name: string, tier: string, extra: Record<string, unknown> = {}): Promise<void> {
  const res = await host.api.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name, tier, modules: ["base", "web", "mail"], ...extra }),
  });
  expect(res.status).toBe(202);
  expect((await runJob(host, ((await res.json()) as { job: JobView }).job.id)).error).toBeNull();
}

describe("rules without a repository, detect, dry run", () => {
  test("production with demo data and a custom personal column; staging", async () => {
    await createEnv(prod, "production", { demo: true });
    await createEnv(stage, "staging");
    await asEnv(prod, async (sql) => {
      await sql`ALTER TABLE public.res_partner ADD COLUMN x_private_mail varchar`;
      await sql`UPDATE public.res_partner SET x_private_mail = 'p' || id || '@private.example' WHERE email IS NOT NULL`;
    });
  }, 300_000);

  test("detect, API: the custom column by name and content; covered columns are not listed; unknown env 404", async () => {
    const res = await host.api.request(`/api/v1/environments/${prod}/db/anonymize-detect`);
    expect(res.status).toBe(200);
    const r = (await res.json()) as AnonymizeDetectReport;
    const f = r.findings.find((x) => x.table === "res_partner" && x.column === "x_private_mail");
    expect(f?.reasons[0]).toBe("name: e-mail");
    expect(f?.reasons[1]).toMatch(/^content: \d+ of \d+ sampled values hold an e-mail address$/);
    expect(r.findings.some((x) => x.table === "res_partner" && x.column === "email")).toBe(false);
    expect(r.sources).toEqual([
      "templates/anonymize-default.yaml",
      "no .odooops/anonymize.yaml (project default has no repository)",
    ]);
    expect(JSON.stringify(r)).not.toContain("@private.example");
    expect((await host.api.request("/api/v1/environments/nope/db/anonymize-detect")).status).toBe(404);
  }, 120_000);

  test("detect, CLI: a table of findings; --json the report", async () => {
    const r = await cli("db", "anonymize-rules", "--detect", prod);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${prod}: `);
    expect(r.stdout).toMatch(/res_partner\.x_private_mail\s+character varying\s+name: e-mail; content: /);
    const j = await cli("db", "anonymize-rules", "--detect", prod, "--json");
    expect(j.code).toBe(0);
    expect((JSON.parse(j.stdout) as AnonymizeDetectReport).findings.some((x) => x.column === "x_private_mail")).toBe(
      true,
    );
    // --detect takes the env's layers; a --file beside it is refused, not ignored.
    const both = await cli("db", "anonymize-rules", "--detect", prod, "--file", "x.yaml");
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain("--detect checks the rules a copy of the environment gets");
  }, 120_000);

  test("clone --dry-run: per table the rows each rule would change (equal to a count on the source); nothing is created", async () => {
    const jobsBefore = jobCount();
    const r = await cli("db", "clone", prod, "--to", stage, "--dry-run");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/res_partner\s+\d+\s+name\s+fake\s+\d+/);
    expect(r.stderr).toContain("dry run: nothing was changed");
    const j = await cli("db", "clone", prod, "--to", stage, "--dry-run", "--json");
    const plan = JSON.parse(j.stdout) as DbOperationPlan;
    const partner = plan.anonymization?.tables.find((t) => t.table === "res_partner");
    const [n] = await asEnv(
      prod,
      (sql) =>
        sql<
          { n: number; email: number }[]
        >`SELECT count(*)::int AS n, count(*) FILTER (WHERE email <> '')::int AS email FROM public.res_partner`,
    );
    expect(partner?.rows).toBe(n?.n ?? -1);
    expect(partner?.columns.find((c) => c.column === "email")?.rows).toBe(n?.email ?? -1);
    expect(plan.anonymization?.skipped).toContain("crm_lead");
    // The dry run the confirmation uses does not read the source unless asked (preview).
    const quiet = await host.api.request(`/api/v1/environments/${stage}/db/clone`, {
      method: "POST",
      body: JSON.stringify({ from: prod, dryRun: true }),
    });
    expect(((await quiet.json()) as DbOperationResponse).plan.anonymization).toBeUndefined();
    expect(jobCount()).toBe(jobsBefore);
  }, 120_000);

  test("a bad --rules file: every problem with file:line: key.path, no job, nothing created", async () => {
    const jobsBefore = jobCount();
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "version: 1\ntables:\n  res_partner:\n    columns:\n      city: { fake: planet }\n");
    const r = await cli("db", "clone", prod, "--to", stage, "--rules", bad, "--yes");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:5: tables.res_partner.columns.city: `);
    // The API says the same to any client, dry run or not.
    const res = await host.api.request(`/api/v1/environments/${stage}/db/clone`, {
      method: "POST",
      body: JSON.stringify({ from: prod, rules: { text: "tables:\n  x: [\n", file: "y.yaml" } }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /^invalid YAML in y\.yaml:\d+: /,
    );
    const off = await host.api.request(`/api/v1/environments/${stage}/db/clone`, {
      method: "POST",
      body: JSON.stringify({ from: prod, anonymize: false, rules: { text: "{}", file: "z.yaml" } }),
    });
    expect(off.status).toBe(400);
    expect(jobCount()).toBe(jobsBefore);
  }, 120_000);

  test("a host rules file and a --rules file both take effect; the job log names every layer", async () => {
    const hostFile = join(dir, "host-rules.yaml");
    writeFileSync(
      hostFile,
      'tables:\n  res_partner:\n    columns:\n      website: { set: "https://host-rule.invalid" }\n',
    );
    host.deps.config.anonymize.rulesFile = hostFile;
    try {
      const runText =
        "tables:\n  res_partner:\n    columns:\n      city: { set: RUN-CITY }\n      x_private_mail: { fake: email }\n";
      const res = await host.api.request(`/api/v1/environments/${stage}/db/clone`, {
        method: "POST",
        body: JSON.stringify({ from: prod, rules: { text: runText, file: "run.yaml" } }),
      });
      expect(res.status).toBe(202);
      const out = (await res.json()) as DbOperationResponse;
      const job = await runJob(host, out.job?.id ?? "");
      expect(job.error).toBeNull();
      const log = host.deps.jobs.logs.read(job.id, 0).text;
      expect(log).toContain(
        `anonymization rules, lowest first: templates/anonymize-default.yaml < ${hostFile} (host rules file, anonymize.rulesFile) < no .odooops/anonymize.yaml (project default has no repository) < run.yaml (--rules, this run only)`,
      );
      const rows = await asEnv(
        stage,
        (sql) =>
          sql<
            { website: string | null; city: string | null; mail: string | null }[]
          >`SELECT website, city, x_private_mail AS mail FROM public.res_partner`,
      );
      expect(rows.length).toBeGreaterThan(8);
      expect(new Set(rows.map((r) => r.website))).toEqual(new Set(["https://host-rule.invalid"]));
      expect(new Set(rows.map((r) => r.city))).toEqual(new Set(["RUN-CITY"]));
      for (const r of rows) if (r.mail !== null) expect(r.mail).toMatch(/^u[0-9a-f]{16}@example\.invalid$/);
    } finally {
      host.deps.config.anonymize.rulesFile = "";
    }
  }, 300_000);
});
