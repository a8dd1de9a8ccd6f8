/**
 * The proof that an anonymized clone holds no personal data of its source, by a scan that is
 * NOT the product's own check: production (the stand-in's schema) filled with ≥ 5,000 partners
 * and their addresses and numbers everywhere (test/support/pii-fixture.ts) is cloned to staging
 * with the default rules through the real job. Then, as the target's role and with the
 * generator's ground truth (not the product's needles):
 *   - every table of every schema dumped with COPY … TO STDOUT (bytea decoded),
 *   - the target database's relation files read on disk after a CHECKPOINT (dead tuples too),
 *   - the target's filestore, names and contents,
 * hold none of the planted values. Staging serves, logins are unique. The same clone with one
 * default rule switched off by the project fails, naming the column, and staging keeps its data.
 *
 * Planted addresses all carry a random per-run tag in their local part, so "no address left"
 * is checked as "the tag is nowhere" (whatever encoding or truncation), and numbers by their
 * last 8 digits among the digit runs of what was read that are not glued to letters: random
 * digits glued to letters (md5 secrets, fake IBANs and VATs of the copy) matched a planted
 * number's last 8 digits in about one run in ten, which is chance, not a leak.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import type { DbOperationResponse } from "../../src/db/schema";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { envDbLogin } from "../../src/env/tenant-login";
import { run } from "../../src/exec/run";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { makeRepo, type TestRepo } from "../git/repo";
import { runJob } from "../support/agents";
import { startEnvHost } from "../support/env-host";
import { fillPiiDatabase, type PiiGroundTruth } from "../support/pii-fixture";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { answer } from "./serving";

const PSQL = join(process.env.ODOOOPS_TEST_PGBIN ?? "/usr/lib/postgresql/15/bin", "psql");
const PARTNERS = Number(process.env.PII_PROOF_PARTNERS ?? 5000);

let host: Awaited<ReturnType<typeof startEnvHost>>;
let admin: SQL;
let repo: TestRepo;
let repoDir: string;
let truth: PiiGroundTruth;
let tag = "";
const prod = `pp-prod-${randomSuffix(5)}`;
const stage = `pp-stage-${randomSuffix(5)}`;

beforeAll(async () => {
  host = await startEnvHost({
    agent: false,
    configOverrides: { tiers: { production: { cpus: 1, memoryMb: 1024, workers: 0 } } },
  });
  admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password });
  repoDir = makeTempDir("odooops-proof-repo-");
  repo = await makeRepo(repoDir);
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await host?.stop();
  if (repoDir) removeTempDir(repoDir);
}, 120_000);

function env(slug: string): Environment {
  return host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
}

function filestoreOf(slug: string): string {
  const e = env(slug);
  return join(envResources(e, host.deps).dataDir, "filestore", e.dbName);
}

async function asRole<T>(slug: string, fn: (sql: SQL) => Promise<T>): Promise<T> {
  const l = envDbLogin(host.deps, env(slug));
  const sql = pgConnect({ host: l.host, port: l.port, user: l.user, password: l.password, database: l.database });
  try {
    return await fn(sql);
  } finally {
    await sql.close();
  }
}

async function createEnv(name: string, tier: string): Promise<void> {
  const res = await host.api.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name, tier, modules: ["base", "web", "mail"] }),
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
  expect(out.plan).toMatchObject({ anonymize: true, neutralize: true });
  return runJob(host, out.job!.id);
}

/** What was found of the ground truth in some text: the tag's contexts, and numbers by their last 8 digits. */
class Finder {
  readonly cores = new Map<string, string>();
  readonly found: string[] = [];
  constructor(
    private readonly tag: string,
    phones: string[],
  ) {
    for (const p of phones) this.cores.set(p.replace(/\D/g, "").slice(-8), p);
  }

  scan(where: string, raw: string): void {
    const text = raw.replaceAll("\0", "").toLowerCase();
    for (let at = text.indexOf(this.tag); at >= 0 && this.found.length < 50; at = text.indexOf(this.tag, at + 1)) {
      this.found.push(`${where}: …${text.slice(Math.max(0, at - 40), at + 40)}…`);
    }
    for (const m of text.matchAll(/(?<![a-z0-9])[0-9][0-9 ()./+-]*[0-9](?![a-z0-9])/g)) {
      const digits = m[0].replace(/\D/g, "");
      for (let i = 0; i + 8 <= digits.length; i++) {
        const hit = this.cores.get(digits.slice(i, i + 8));
        if (hit && this.found.length < 50) this.found.push(`${where}: phone ${hit} as ${m[0]}`);
      }
    }
  }
}

/** COPY text format → the values as text; bytea (`\\x…`) decoded to its bytes (Latin-1). */
function decodeCopy(out: string): string {
  return out
    .split("\n")
    .map((line) =>
      line
        .split("\t")
        .map((f) =>
          f.startsWith("\\\\x") ? Buffer.from(f.slice(3), "hex").toString("latin1") : f.replaceAll("\\\\", "\\"),
        )
        .join("\t"),
    )
    .join("\n");
}

/** Every table of every non-system schema, dumped with COPY as the env's role. */
async function dumpAsRole(slug: string, finder: Finder): Promise<{ tables: number; bytes: number }> {
  const l = envDbLogin(host.deps, env(slug));
  const tables = await asRole(
    slug,
    (sql) => sql<{ s: string; t: string }[]>`
    SELECT n.nspname AS s, c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2`,
  );
  let bytes = 0;
  for (const { s, t } of tables) {
    const r = await run({
      argv: [
        PSQL,
        "-X",
        "-q",
        "-h",
        l.host,
        "-p",
        String(l.port),
        "-U",
        l.user,
        "-d",
        l.database,
        "-c",
        `COPY (SELECT * FROM "${s}"."${t}") TO STDOUT`,
      ],
      env: { PGPASSWORD: l.password },
    });
    bytes += r.stdout.length;
    finder.scan(`COPY ${s}.${t}`, decodeCopy(r.stdout));
  }
  return { tables: tables.length, bytes };
}

/** The database's files under base/<oid>, after a CHECKPOINT wrote every page. */
async function readRelationFiles(db: string, finder: Finder): Promise<{ files: number; bytes: number }> {
  await admin`CHECKPOINT`;
  const [row] = await admin<{ oid: number }[]>`SELECT oid::int AS oid FROM pg_database WHERE datname = ${db}`;
  const dir = join(host.pg.dataDir, "base", String(row!.oid));
  let files = 0;
  let bytes = 0;
  for (const name of readdirSync(dir)) {
    const data = readFileSync(join(dir, name));
    files += 1;
    bytes += data.length;
    finder.scan(`base/${row!.oid}/${name}`, data.toString("latin1"));
  }
  return { files, bytes };
}

function walkFilestore(dir: string, finder: Finder): number {
  let n = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(e.parentPath, e.name);
    finder.scan(`filestore name ${path.slice(dir.length)}`, path.slice(dir.length));
    if (e.isFile()) {
      finder.scan(`filestore file ${path.slice(dir.length)}`, readFileSync(path).toString("latin1"));
      n += 1;
    }
  }
  return n;
}

describe("anonymized clone: nothing of the source is left (independent scan)", () => {
  test(`production with ${PARTNERS} partners' personal data everywhere; a staging env`, async () => {
    await createEnv(prod, "production");
    await createEnv(stage, "staging");
    truth = await asRole(prod, (sql) =>
      fillPiiDatabase(sql, {
        partners: PARTNERS,
        filestoreDir: filestoreOf(prod),
        uid: host.config.odoo.uid,
        gid: host.config.odoo.gid,
      }),
    );
    tag = truth.tag;
    expect(truth.partners).toBeGreaterThanOrEqual(5000);
    expect(truth.users).toBeGreaterThan(900);
    // The independent scan sees the source's data in production: it can fail.
    const finder = new Finder(tag, truth.phones);
    await dumpAsRole(prod, finder);
    expect(finder.found.length).toBeGreaterThan(0);
  }, 600_000);

  test("the clone with the default rules passes the product's check, and says what it scanned", async () => {
    const job = await clone();
    const log = host.deps.jobs.logs.read(job.id, 0).text;
    if (job.error) console.error(job.error, log.slice(-3000));
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    expect(log).toContain("PII check passed");
    expect(log).toContain("copy check passed");
  }, 900_000);

  test("COPY of every table as staging's role: no planted address or number", async () => {
    const finder = new Finder(tag, truth.phones);
    const r = await dumpAsRole(stage, finder);
    expect(r.tables).toBeGreaterThan(5);
    expect(finder.found).toEqual([]);
  }, 300_000);

  test("the database's files on disk (dead tuples included): no planted address or number", async () => {
    const finder = new Finder(tag, truth.phones);
    const r = await readRelationFiles(env(stage).dbName, finder);
    expect(r.files).toBeGreaterThan(10);
    if (finder.found.length > 0) {
      // Which live statistics quote the source (pg_statistic is file 2619): names only.
      const sql = pgConnect({
        host: host.pg.host,
        port: host.pg.port,
        user: host.pg.user,
        password: host.pg.password,
        database: env(stage).dbName,
      });
      try {
        const stats = await sql<{ t: string; c: string }[]>`SELECT tablename AS t, attname AS c FROM pg_stats
          WHERE schemaname = 'public' AND (most_common_vals::text ILIKE ${`%${tag}%`} OR histogram_bounds::text ILIKE ${`%${tag}%`})`;
        console.error("live statistics holding planted values:", JSON.stringify(stats));
      } finally {
        await sql.close();
      }
    }
    expect(finder.found.map((f) => f.slice(0, 160))).toEqual([]);
  }, 300_000);

  test("the filestore: no planted address or number in names or contents", async () => {
    const finder = new Finder(tag, truth.phones);
    walkFilestore(filestoreOf(stage), finder);
    expect(finder.found).toEqual([]);
    // Production's own files (the planted ones and the stand-in's logo) are untouched by the clone.
    const prodFinder = new Finder(tag, truth.phones);
    expect(walkFilestore(filestoreOf(prod), prodFinder)).toBeGreaterThanOrEqual(truth.files);
    expect(prodFinder.found.length).toBeGreaterThan(0);
  }, 300_000);

  test("staging serves the copy; logins are unique", async () => {
    const e = env(stage);
    expect(e.status).toBe("active");
    expect(await answer(host, e.domain, "/web/health?db_server_status=1")).toMatchObject({ status: 200 });
    const dup = await asRole(
      stage,
      (sql) => sql<{ login: string }[]>`SELECT login FROM public.res_users GROUP BY login HAVING count(*) > 1`,
    );
    expect(dup.map((r) => r.login)).toEqual([]);
    const [users] = await asRole(stage, (sql) => sql<{ n: number }[]>`SELECT count(*)::int AS n FROM public.res_users`);
    expect(users!.n).toBeGreaterThanOrEqual(truth.users);
  }, 120_000);

  test("one default rule switched off by the project: the product's check fails the clone, names the column; staging keeps its copy", async () => {
    await repo.commit({
      ".odooops/anonymize.yaml": "version: 1\ntables:\n  res_partner:\n    columns:\n      email: { keep: true }\n",
    });
    const res = await host.api.request("/api/v1/projects/default", {
      method: "PUT",
      body: JSON.stringify({ repoUrl: repo.url }),
    });
    expect(res.status).toBe(200);
    const before = statSync(filestoreOf(stage)).ino;
    const [uuidBefore] = await asRole(
      stage,
      (sql) => sql<{ value: string }[]>`SELECT value FROM public.ir_config_parameter WHERE key = 'database.uuid'`,
    );
    const job = await clone();
    expect(job.status).toBe("failed");
    expect(job.error).toContain("PII check failed");
    expect(job.error).toMatch(/res_partner\.email: \d+ emails/);
    expect(job.error).not.toContain(`.${tag}@`);
    expect(job.steps.find((s) => s.name === "swap")?.status).toBe("pending");
    const [uuidAfter] = await asRole(
      stage,
      (sql) => sql<{ value: string }[]>`SELECT value FROM public.ir_config_parameter WHERE key = 'database.uuid'`,
    );
    expect(uuidAfter?.value).toBe(uuidBefore!.value);
    expect(statSync(filestoreOf(stage)).ino).toBe(before);
  }, 900_000);
});
