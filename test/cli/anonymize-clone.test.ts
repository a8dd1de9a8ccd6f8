/**
 * `db clone --rules FILE`, `db clone --dry-run` and `db anonymize-rules --detect` through the CLI
 * (citty, in-process) with its client injected into an in-process API (no database: what needs
 * one is in test/db/anonymize/rules-api.test.ts). The file's content travels in the request and
 * lands in the job's parameters; every refusal queues nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { environments } from "../../src/env/env.sql";
import { jobs } from "../../src/jobs/jobs.sql";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";
import { makeTempDir, removeTempDir } from "../support/tmp";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let dir: string;
const cli = (...argv: string[]) =>
  runCliWith(argv, { fetch: t.fetch, env: { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: t.token } });
const cloneJobs = () => t.deps.db.select().from(jobs).where(eq(jobs.kind, "db.clone")).all();

beforeAll(async () => {
  t = await makeTestApi();
  dir = makeTempDir("odooops-clone-rules-cli-");
  for (const [name, tier] of [
    ["live", "production"],
    ["qa", "staging"],
  ] as const) {
    expect((await cli("env", "create", name, "--tier", tier)).code).toBe(0);
    // No agent runs the create job: mark the env as created.
    t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, name)).run();
  }
});
afterAll(() => {
  t?.cleanup();
  if (dir) removeTempDir(dir);
});

describe("db clone --rules", () => {
  test("a valid file: its content and name go into the job's parameters; the audit names the file", async () => {
    const file = join(dir, "extra.yaml");
    const text = "tables:\n  res_partner:\n    columns:\n      x_vip_note: { fake: text }\n";
    writeFileSync(file, text);
    const r = await cli("db", "clone", "live", "--to", "qa", "--rules", file, "--yes");
    expect(r.code).toBe(0);
    const queued = cloneJobs();
    expect(queued).toHaveLength(1);
    expect(queued[0]?.params.rules).toEqual({ text, file });
    expect(queued[0]?.params.anonymize).toBe(true);
    const audit = t.deps.audit.list({ action: "db.clone", limit: 5 });
    expect(JSON.stringify(audit[0]?.details)).toContain(`"rules":"${file}"`);
  });

  test("refusals queue nothing: an unreadable file, a bad file (file:line: key.path), --rules on a copy that is not anonymized", async () => {
    const before = cloneJobs().length;
    const missing = await cli("db", "clone", "live", "--to", "qa", "--rules", join(dir, "absent.yaml"), "--yes");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`cannot read ${join(dir, "absent.yaml")}: ENOENT`);

    const bad = join(dir, "bad.yaml");
    writeFileSync(
      bad,
      "version: 1\ntables:\n  res_partner:\n    columns:\n      email: { template: 7 }\n      phone: { keep: false }\n",
    );
    const invalid = await cli("db", "clone", "live", "--to", "qa", "--rules", bad, "--yes");
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain(`${bad}:5: tables.res_partner.columns.email: `);
    expect(invalid.stderr).toContain(`${bad}:6: tables.res_partner.columns.phone: `);

    writeFileSync(join(dir, "ok.yaml"), "{}\n");
    const plain = await cli(
      "db",
      "clone",
      "live",
      "--to",
      "qa",
      "--no-anonymize",
      "--rules",
      join(dir, "ok.yaml"),
      "--yes",
    );
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain("--rules applies to an anonymized copy");
    expect(cloneJobs()).toHaveLength(before);
  });
});

describe("db clone --dry-run", () => {
  test("not anonymized: the plan only, nothing queued, no question asked", async () => {
    const before = cloneJobs().length;
    const r = await cli("db", "clone", "live", "--to", "qa", "--no-anonymize", "--dry-run");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("clone: the database odoo_qa and the filestore of staging environment qa");
    expect(r.stderr).toContain("dry run: nothing was changed");
    expect(r.stderr).not.toContain("anonymization rules");
    expect(cloneJobs()).toHaveLength(before);
  });
});

describe("db anonymize-rules --detect", () => {
  test("an unknown environment: not found, exit 4", async () => {
    const r = await cli("db", "anonymize-rules", "--detect", "nope");
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("nope");
  });
});
