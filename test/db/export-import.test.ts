/**
 * Odoo-compatible export/import end to end on real envs (PostgreSQL, docker, nginx, the Odoo
 * stand-in): env A exported as Odoo's database-manager zip, imported into env B — every table's
 * row count and every filestore file equal, B serving; a pg_dump -Fc .dump imports too; a file
 * that is neither is refused before anything changes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { dirname, join } from "node:path";
import { eq } from "drizzle-orm";
import { moduleProblems } from "../../src/db/import-job";
import { filesUnder, filestorePath, odooDumpManifest, pgDumpPlain, readOdooZip } from "../../src/db/odoo-zip";
import { psqlLoad } from "../../src/db/plain-load";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { runCliWith } from "../support/cli";
import { startEnvHost } from "../support/env-host";
import { makeTempDir, randomSuffix } from "../support/tmp";
import { filestoreChecksums } from "./odoo-fixture";
import { answer } from "./serving";
import yazl from "yazl";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let tmp: string;
const a = `ea-${randomSuffix(6)}`;
const b = `eb-${randomSuffix(6)}`;

beforeAll(async () => {
  host = await startEnvHost();
  tmp = makeTempDir("export-import-");
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 120_000);

function env(slug: string): Environment {
  return host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
}

function filestore(slug: string): string {
  const e = env(slug);
  return join(envResources(e, host.deps).dataDir, "filestore", e.dbName);
}

async function envSql<T>(slug: string, fn: (sql: SQL) => Promise<T>): Promise<T> {
  const sql = pgConnect({
    host: host.pg.host,
    port: host.pg.port,
    user: host.pg.user,
    password: host.pg.password,
    database: env(slug).dbName,
  });
  try {
    return await fn(sql);
  } finally {
    await sql.close();
  }
}

/** Exact row count of every table in public. */
async function rowCounts(slug: string): Promise<Record<string, number>> {
  return envSql(slug, async (sql) => {
    const tables = (
      await sql<{ t: string }[]>`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`
    ).map((r) => r.t);
    const out: Record<string, number> = {};
    for (const t of tables)
      out[t] = Number(((await sql.unsafe(`SELECT count(*)::text AS n FROM public."${t}"`)) as { n: string }[])[0]?.n);
    return out;
  });
}

/**
 * B's rows after importing A: A's, plus the one key a non-production copy gains
 * (`web.base.url.freeze`, so the first admin login does not point B at A's URL).
 */
async function expectImportedFrom(target: string, source: string): Promise<void> {
  const want = await rowCounts(source);
  expect(await rowCounts(target)).toEqual({ ...want, ir_config_parameter: (want.ir_config_parameter ?? 0) + 1 });
  const frozen = await envSql(
    target,
    (sql) => sql<{ value: string }[]>`SELECT value FROM public.ir_config_parameter WHERE key = 'web.base.url.freeze'`,
  );
  expect(frozen.map((r) => r.value)).toEqual(["True"]);
}

async function created(slug: string): Promise<void> {
  const res = await host.api.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name: slug, tier: "dev", modules: ["base", "web"] }),
  });
  expect(res.status).toBe(202);
  expect((await host.waitJob(((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
}

async function importFile(slug: string, file: string, query = "neutralize=false"): Promise<Response> {
  return host.api.request(`/api/v1/environments/${slug}/db/import?${query}`, {
    method: "POST",
    body: Bun.file(file),
    headers: { "content-type": "application/octet-stream" },
  });
}

let zipPath = "";

describe("db export / import between two real environments", () => {
  test("two envs; A has its own data and attachments", async () => {
    await created(a);
    await created(b);
    await envSql(
      a,
      (sql) =>
        sql`INSERT INTO res_partner (name, email) SELECT 'Partner ' || g, 'p' || g || '@a.example' FROM generate_series(1, 25) g`,
    );
    mkdirSync(join(filestore(a), "ab"), { recursive: true });
    mkdirSync(join(filestore(a), "cd"), { recursive: true });
    writeFileSync(join(filestore(a), "ab", "ab12cd"), "attachment one");
    writeFileSync(join(filestore(a), "cd", "cd34ef"), Buffer.alloc(100_000, 7));
    expect(await rowCounts(a)).not.toEqual(await rowCounts(b));
  }, 300_000);

  test("export A: a zip with dump.sql, filestore/ and Odoo's manifest.json, downloadable once finished, then deleted", async () => {
    const res = await host.api.request(`/api/v1/environments/${a}/db/export`, { method: "POST" });
    expect(res.status).toBe(202);
    const job = await host.waitJob(((await res.json()) as JobView).id);
    expect(job.error).toBeNull();
    expect(job.kind).toBe("db.export");
    const download = String(job.result?.download);
    const got = await host.api.request(`/api/v1${download}`);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("application/zip");
    zipPath = join(tmp, "a.zip");
    writeFileSync(zipPath, new Uint8Array(await got.arrayBuffer()));
    expect(Number(got.headers.get("content-length"))).toBe(readFileSync(zipPath).length);

    const out = join(tmp, "inspect");
    mkdirSync(out);
    const read = await readOdooZip(zipPath, join(tmp, "dump.sql"), out, {
      maxEntries: 100,
      maxUnpackedBytes: 10 * 1024 * 1024,
    });
    expect(read.files).toBe((await filesUnder(filestore(a))).length);
    expect(read.files).toBeGreaterThanOrEqual(2);
    expect(filestoreChecksums(out)).toEqual(filestoreChecksums(filestore(a)));
    const sqlText = readFileSync(join(tmp, "dump.sql"), "utf8");
    expect(sqlText).toContain("PostgreSQL database dump");
    expect(sqlText).not.toContain("OWNER TO");
    expect(read.manifest).toMatchObject({
      odoo_dump: "1",
      db_name: env(a).dbName,
      version: "17.0",
      major_version: "17.0",
      version_info: [17, 0, 0, "final", 0, ""],
    });
    expect(read.manifest?.pg_version).toMatch(/^\d+\.\d+$/);
    expect(read.manifest?.modules).toMatchObject({ base: "17.0.1.3", web: "17.0.1.0" });

    expect((await host.api.request(`/api/v1${download}`, { method: "DELETE" })).status).toBe(204);
    expect((await host.api.request(`/api/v1${download}`)).status).toBe(404);
  }, 180_000);

  test("import the zip into B: every table's row count and every filestore file equal A's, B serving its own URL", async () => {
    const res = await importFile(b, zipPath);
    expect(res.status).toBe(202);
    const job = await host.waitJob(((await res.json()) as JobView).id);
    expect(job.error).toBeNull();
    expect(job.kind).toBe("db.import");
    await expectImportedFrom(b, a);
    expect(filestoreChecksums(filestore(b))).toEqual(filestoreChecksums(filestore(a)));
    const partners = await envSql(
      b,
      (sql) => sql<{ n: number }[]>`SELECT count(*)::int AS n FROM res_partner WHERE email LIKE '%@a.example'`,
    );
    expect([...partners]).toEqual([{ n: 25 }]);
    const baseUrl = await envSql(
      b,
      (sql) => sql<{ value: string }[]>`SELECT value FROM ir_config_parameter WHERE key = 'web.base.url'`,
    );
    expect(baseUrl[0]?.value).toContain(env(b).domain);
    expect(await answer(host, env(b).domain, "/web/health?db_server_status=1")).toMatchObject({ status: 200 });
    // The uploaded file and the replaced database are gone.
    expect(await filesUnder(join(host.deps.paths.dataDir, "imports"))).toEqual([]);
    const dbs = await envSql(
      b,
      (sql) =>
        sql<
          { d: string }[]
        >`SELECT datname AS d FROM pg_database WHERE starts_with(datname, ${env(b).dbName}) ORDER BY 1`,
    );
    expect(dbs.map((r) => r.d)).toEqual([env(b).dbName]);
  }, 240_000);

  test("a pg_dump -Fc .dump imports too (no filestore in it: B's is emptied)", async () => {
    await envSql(a, (sql) => sql`INSERT INTO res_partner (name) VALUES ('Only in the dump')`);
    const dump = join(tmp, "a.dump");
    const pg = host.pg;
    await run({
      argv: ["pg_dump", "-Fc", "-h", pg.host, "-p", String(pg.port), "-U", pg.user, "-f", dump, "-d", env(a).dbName],
      env: { PGPASSWORD: pg.password },
    });
    const res = await importFile(b, dump);
    expect(res.status).toBe(202);
    const job = await host.waitJob(((await res.json()) as JobView).id);
    expect(job.error).toBeNull();
    expect(host.deps.jobs.queue.row(job.id).params).toMatchObject({ format: "dump" });
    await expectImportedFrom(b, a);
    expect(await filesUnder(filestore(b))).toEqual([]);
    // Said loudly: the job log and the result.
    expect(host.deps.jobs.logs.read(job.id, 0, 1024 * 1024).text).toContain(
      "warn: a .dump holds the database only, NOT the filestore",
    );
    expect(job.result).toMatchObject({ format: "dump", filestoreIncluded: false });
  }, 240_000);

  test("the CLI warns that a .dump has no filestore; --filestore DIR brings A's files along", async () => {
    const dump = join(tmp, "a.dump");
    const cli = (...argv: string[]) =>
      runCliWith(argv, {
        fetch: host.api.fetch,
        env: { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: host.api.token },
      });
    const bare = await cli("db", "import", b, dump, "--no-neutralize", "--yes", "--wait");
    expect(bare.code).toBe(0);
    expect(bare.stderr).toContain("warning: a .dump holds the database only, NOT the filestore");
    expect(bare.stderr).toContain("--filestore DIR|TAR");
    expect(await filesUnder(filestore(b))).toEqual([]);

    const withFiles = await cli(
      "--json",
      "db",
      "import",
      b,
      dump,
      "--no-neutralize",
      "--yes",
      "--wait",
      "--filestore",
      filestore(a),
    );
    expect(withFiles.code).toBe(0);
    expect(withFiles.stderr).not.toContain("NOT the filestore");
    expect(withFiles.stderr).toContain("filestore uploaded and checked");
    expect(JSON.parse(withFiles.stdout)).toMatchObject({
      status: "succeeded",
      result: { format: "dump", filestoreIncluded: true },
    });
    expect(filestoreChecksums(filestore(b))).toEqual(filestoreChecksums(filestore(a)));
    await expectImportedFrom(b, a);
    expect(await filesUnder(join(host.deps.paths.dataDir, "imports"))).toEqual([]);
    expect(await answer(host, env(b).domain, "/web/health?db_server_status=1")).toMatchObject({ status: 200 });
  }, 300_000);

  test("an unsafe filestore tar is refused at upload, an unknown one at import: nothing queued, nothing kept", async () => {
    const before = await rowCounts(b);
    const evil = join(tmp, "evil-fs");
    mkdirSync(join(evil, "ab"), { recursive: true });
    symlinkSync("/etc", join(evil, "ab", "escape"));
    const tar = join(tmp, "evil.tar");
    await run({ argv: ["tar", "-cf", tar, "-C", evil, "."] });
    const jobsBefore = host.deps.jobs.queue.list({ limit: 1000 }).length;
    const res = await host.api.request(`/api/v1/environments/${b}/db/import/filestore`, {
      method: "POST",
      body: Bun.file(tar),
      headers: { "content-type": "application/octet-stream" },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("symbolic link");
    const unknown = await importFile(b, join(tmp, "a.dump"), `neutralize=false&filestore=${"0".repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(host.deps.jobs.queue.list({ limit: 1000 }).length).toBe(jobsBefore);
    expect(await filesUnder(join(host.deps.paths.dataDir, "imports"))).toEqual([]);
    expect(await rowCounts(b)).toEqual(before);
  }, 60_000);

  test("a zip whose dump does not load fails the job; B keeps its database, filestore and service", async () => {
    const before = await rowCounts(b);
    const filesBefore = await filesUnder(filestore(b));
    const broken = join(tmp, "broken.zip");
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from("CREATE TABLE half (id int);\nTHIS IS NOT SQL;\n"), "dump.sql");
    zip.addBuffer(Buffer.from("attachment"), "filestore/zz/zz99");
    zip.end();
    await pipeline(zip.outputStream, createWriteStream(broken));
    const res = await importFile(b, broken);
    expect(res.status).toBe(202);
    const job = await host.waitJob(((await res.json()) as JobView).id);
    expect(job.status).toBe("failed");
    expect(job.error).toContain("syntax error");
    expect(await rowCounts(b)).toEqual(before);
    expect(await filesUnder(filestore(b))).toEqual(filesBefore);
    // Nothing staged beside it is left, nor the extracted dump.
    expect(readdirSync(dirname(filestore(b)))).toEqual([env(b).dbName]);
    expect(await filesUnder(host.deps.paths.workDir)).toEqual([]);
    const dbs = await envSql(
      b,
      (sql) =>
        sql<
          { d: string }[]
        >`SELECT datname AS d FROM pg_database WHERE starts_with(datname, ${env(b).dbName}) ORDER BY 1`,
    );
    expect(dbs.map((r) => r.d)).toEqual([env(b).dbName]);
    expect(await filesUnder(join(host.deps.paths.dataDir, "imports"))).toEqual([]);
    expect(await answer(host, env(b).domain, "/web/health?db_server_status=1")).toMatchObject({ status: 200 });
  }, 120_000);

  test("a file that is neither a zip nor a dump is refused and changes nothing", async () => {
    const before = await rowCounts(b);
    const junk = join(tmp, "junk.txt");
    writeFileSync(junk, "hello");
    const res = await importFile(b, junk);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("neither a zip");
    expect(await rowCounts(b)).toEqual(before);
    expect(await filesUnder(join(host.deps.paths.dataDir, "imports"))).toEqual([]);
  }, 60_000);
});

describe("the Odoo zip format", () => {
  const pg = { host: "db.example", port: 5433, user: "admin", password: "s3cret" };
  test("pg_dump plain without owners; psql loads stdin in one transaction logged in as the env's role, stopping at the first error", () => {
    const dump = pgDumpPlain(pg, "odoo_shop");
    expect(dump.argv).toEqual([
      "pg_dump",
      "-Fp",
      "--no-owner",
      "--no-privileges",
      "-h",
      "db.example",
      "-p",
      "5433",
      "-U",
      "admin",
      "--no-password",
      "-d",
      "odoo_shop",
    ]);
    expect(dump.env?.PGPASSWORD).toBe("s3cret");
    expect(dump.argv.join(" ")).not.toContain("s3cret");
    const load = psqlLoad({ ...pg, user: "odoo_shop", password: "env-pw" }, "odoo_shop_new_x");
    expect(load.argv).toEqual([
      "psql",
      "-h",
      "db.example",
      "-p",
      "5433",
      "-U",
      "odoo_shop",
      "--no-password",
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      "--single-transaction",
      "-d",
      "odoo_shop_new_x",
      "-f",
      "-",
    ]);
    expect(load.env?.PGPASSWORD).toBe("env-pw");
    expect(
      psqlLoad({ ...pg, user: "odoo_shop", password: "env-pw" }, "odoo_shop_new_x", {
        uid: 65534,
        gid: 65534,
      }).argv.slice(0, 7),
    ).toEqual(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs", "--", "psql"]);
    expect(() => pgDumpPlain(pg, "x; drop")).toThrow();
  });

  test("Odoo's manifest fields", () => {
    expect(odooDumpManifest("shop", "17.0", 150004, [{ name: "base", version: "17.0.1.3" }])).toEqual({
      odoo_dump: "1",
      db_name: "shop",
      version: "17.0",
      version_info: [17, 0, 0, "final", 0, ""],
      major_version: "17.0",
      pg_version: "15.0",
      modules: { base: "17.0.1.3" },
    });
    expect(odooDumpManifest("shop", "16.0", 120015, []).pg_version).toBe("12.0");
  });

  test("filestore entries stay inside the filestore", () => {
    expect(filestorePath("filestore/ab/ab12")).toBe("ab/ab12");
    expect(filestorePath("filestore/ab/")).toBeNull();
    expect(filestorePath("dump.sql")).toBeNull();
    expect(() => filestorePath("filestore/../../etc/passwd")).toThrow("outside the filestore");
  });

  test("modules compared with the manifest both ways", () => {
    const m = odooDumpManifest("s", "17.0", 150000, [
      { name: "base", version: "17.0.1.3" },
      { name: "web", version: "17.0.1.0" },
    ]);
    expect(
      moduleProblems(m, [
        { name: "base", version: "17.0.1.3" },
        { name: "web", version: "17.0.1.0" },
      ]),
    ).toEqual([]);
    expect(
      moduleProblems(m, [
        { name: "base", version: "17.0.1.2" },
        { name: "sale", version: "17.0.1.0" },
      ]),
    ).toEqual([
      "base: installed 17.0.1.2, manifest says 17.0.1.3",
      "web is in the manifest but not installed",
      "sale is installed but not in the manifest",
    ]);
  });
});
