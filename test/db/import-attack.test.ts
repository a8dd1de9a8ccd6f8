/**
 * Attack tests for `db import` (issue #13, C2) on a real env (PostgreSQL, docker, nginx, the Odoo
 * stand-in), through the HTTP API and the import job: an uploaded dump must never act with the
 * host's authority. psql meta-commands (`\!` runs a shell on the host) never run, SQL that tries
 * to become superuser (`RESET ROLE` undoing a `SET ROLE`) gets no more than the env's own rights,
 * a custom-format archive whose SQL does the same gets nowhere either, and oversized uploads,
 * zip bombs, too many entries and symlink entries are refused with a clear error. After each
 * attack the env keeps its database, its filestore and its service.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { createWriteStream, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { eq } from "drizzle-orm";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import type { JobView } from "../../src/jobs/view";
import { filesUnder, readOdooZip } from "../../src/db/odoo-zip";
import { startEnvHost } from "../support/env-host";
import { makeTempDir, randomSuffix } from "../support/tmp";
import { filestoreChecksums } from "./odoo-fixture";
import { answer } from "./serving";
import yazl from "yazl";

const MiB = 1024 * 1024;
let host: Awaited<ReturnType<typeof startEnvHost>>;
let tmp: string;
const slug = `ia-${randomSuffix(6)}`;
/** Where `\!` would leave its trace on the host. */
let marker: string;
let legitSql: string;

beforeAll(async () => {
  host = await startEnvHost({ configOverrides: { imports: { maxUploadMb: 2, maxZipEntries: 100, maxUnpackedMb: 8 } } });
  tmp = makeTempDir("import-attack-");
  marker = join(tmp, `pwned-${randomSuffix(8)}`);
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 120_000);

function env(): Environment {
  return host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
}

function filestore(): string {
  const e = env();
  return join(envResources(e, host.deps).dataDir, "filestore", e.dbName);
}

const asAdmin = <T>(fn: (sql: SQL) => Promise<T>, database = "postgres"): Promise<T> => host.pg.query(database, fn);

/** Everything an attack could change: roles and their powers, the env's rows, its filestore. */
async function snapshot() {
  const roles = await asAdmin(
    (sql) => sql<{ r: string; s: boolean }[]>`SELECT rolname AS r, rolsuper AS s FROM pg_roles ORDER BY 1`,
  );
  const partners = await asAdmin(
    (sql) => sql<{ n: number }[]>`SELECT count(*)::int AS n FROM res_partner`,
    env().dbName,
  );
  const dbs = await asAdmin(
    (sql) =>
      sql<{ d: string }[]>`SELECT datname AS d FROM pg_database WHERE starts_with(datname, ${env().dbName}) ORDER BY 1`,
  );
  return {
    roles: roles.map((r) => `${r.r}:${r.s}`),
    partners: partners[0]?.n,
    dbs: dbs.map((d) => d.d),
    files: filestoreChecksums(filestore()),
  };
}

async function importFile(file: string): Promise<Response> {
  return host.api.request(`/api/v1/environments/${slug}/db/import?neutralize=false`, {
    method: "POST",
    body: Bun.file(file),
    headers: { "content-type": "application/octet-stream" },
  });
}

async function importJob(file: string): Promise<JobView> {
  const res = await importFile(file);
  expect(res.status).toBe(202);
  return host.waitJob(((await res.json()) as JobView).id);
}

async function writeZip(
  out: string,
  entries: { name: string; data: Buffer; mode?: number; compress?: boolean }[],
): Promise<string> {
  const zip = new yazl.ZipFile();
  for (const e of entries) zip.addBuffer(e.data, e.name, { mode: e.mode, compress: e.compress ?? true });
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(out));
  return out;
}

/**
 * The export's SQL with `payload` before its end. pg_dump ≥ 15.14 wraps its output in its own
 * `\restrict` / `\unrestrict` pair; an attacker simply leaves it out (`ownRestrict: false`).
 */
function withPayload(payload: string, ownRestrict = true): string {
  const sql = ownRestrict ? legitSql : legitSql.replace(/^\\(un)?restrict \S+\n/gm, "");
  const end = sql.lastIndexOf("-- PostgreSQL database dump complete");
  expect(end).toBeGreaterThan(0);
  return `${sql.slice(0, end)}${payload}${sql.slice(end)}`;
}

async function expectUnharmed(before: Awaited<ReturnType<typeof snapshot>>): Promise<void> {
  expect(existsSync(marker)).toBe(false);
  expect(await snapshot()).toEqual(before);
  expect(await filesUnder(join(host.deps.paths.dataDir, "imports"))).toEqual([]);
  expect(await answer(host, env().domain, "/web/health?db_server_status=1")).toMatchObject({ status: 200 });
}

describe("db import of a hostile upload", () => {
  test("an env with data, and a legitimate export of it that imports", async () => {
    const res = await host.api.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: slug, tier: "dev", modules: ["base", "web"] }),
    });
    expect(res.status).toBe(202);
    expect((await host.waitJob(((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
    await asAdmin(
      (sql) => sql`INSERT INTO res_partner (name) SELECT 'Partner ' || g FROM generate_series(1, 5) g`,
      env().dbName,
    );
    const exp = await host.api.request(`/api/v1/environments/${slug}/db/export`, { method: "POST" });
    const job = await host.waitJob(((await exp.json()) as JobView).id);
    expect(job.error).toBeNull();
    const zipPath = join(tmp, "legit.zip");
    writeFileSync(
      zipPath,
      new Uint8Array(await (await host.api.request(`/api/v1${String(job.result?.download)}`)).arrayBuffer()),
    );
    await readOdooZip(zipPath, join(tmp, "legit.sql"), makeTempDir("import-attack-fs-"), {
      maxEntries: 100,
      maxUnpackedBytes: 8 * MiB,
    });
    legitSql = readFileSync(join(tmp, "legit.sql"), "utf8");
    const imported = await importJob(zipPath);
    expect(imported.error).toBeNull();
  }, 400_000);

  test("dump.sql with psql meta-commands (`\\!` at a line start and mid-line, `\\o FILE`, `\\unrestrict` with backticks): refused, no shell runs on the host, nothing changes", async () => {
    const before = await snapshot();
    const dumps = [
      withPayload(`\\! touch ${marker}\n`, false),
      withPayload(`SELECT 1 \\! touch ${marker}\n;\n`, false),
      withPayload(`\\o ${marker}\nSELECT 1;\n`, false),
      // The one command a restricted psql still parses; before 15.19 it expands backticks.
      withPayload(`\\unrestrict \`touch ${marker}\`\n`),
    ];
    for (const [i, text] of dumps.entries()) {
      const zip = await writeZip(join(tmp, `bang-${i}.zip`), [{ name: "dump.sql", data: Buffer.from(text) }]);
      const job = await importJob(zip);
      await expectUnharmed(before);
      expect(job.status).toBe("failed");
      expect(job.error).toContain("meta-command");
    }
  }, 300_000);

  test("dump.sql with RESET ROLE then superuser DDL: the load runs as the env's role, no role is created or raised", async () => {
    const before = await snapshot();
    const evil = `evil_${randomSuffix(8)}`;
    const payload = `RESET ROLE;\nCREATE ROLE ${evil} SUPERUSER LOGIN;\nALTER ROLE ${env().dbUser} SUPERUSER;\n`;
    const zip = await writeZip(join(tmp, "reset-role.zip"), [
      { name: "dump.sql", data: Buffer.from(withPayload(payload)) },
    ]);
    const job = await importJob(zip);
    // The harm first: on a superuser session these succeed whatever the job's outcome.
    expect((await snapshot()).roles.some((r) => r.startsWith(`${evil}:`))).toBe(false);
    await expectUnharmed(before);
    expect(before.roles).toContain(`${env().dbUser}:false`);
    expect(job.status).toBe("failed");
    expect(job.error).toMatch(/must be superuser|permission denied/);
  }, 120_000);

  test("a custom-format .dump whose archived SQL resets the role and creates a superuser: refused, nothing changes", async () => {
    const db = env().dbName;
    // A comment is archived verbatim as one TOC entry; the same-length payload keeps the archive valid.
    const placeholder = "X".repeat(160);
    await asAdmin((sql) => sql.unsafe(`COMMENT ON TABLE public.res_partner IS '${placeholder}'`), db);
    const dump = join(tmp, "crafted.dump");
    const pg = host.pg;
    await run({
      argv: ["pg_dump", "-Fc", "-h", pg.host, "-p", String(pg.port), "-U", pg.user, "-f", dump, "-d", db],
      env: { PGPASSWORD: pg.password },
    });
    await asAdmin((sql) => sql.unsafe("COMMENT ON TABLE public.res_partner IS NULL"), db);
    const original = `COMMENT ON TABLE public.res_partner IS '${placeholder}';`;
    const evil = `evil_${randomSuffix(8)}`;
    const attack = `RESET ROLE; CREATE ROLE ${evil} SUPERUSER LOGIN; ALTER ROLE ${env().dbUser} SUPERUSER; --`;
    const bytes = readFileSync(dump);
    const at = bytes.indexOf(original);
    expect(at).toBeGreaterThan(0);
    Buffer.from(attack.padEnd(original.length, " ")).copy(bytes, at);
    writeFileSync(dump, bytes);

    const before = await snapshot();
    const job = await importJob(dump);
    expect((await snapshot()).roles.some((r) => r.startsWith(`${evil}:`))).toBe(false);
    await expectUnharmed(before);
    expect(job.status).toBe("failed");
    expect(job.error).toMatch(/must be superuser|permission denied/);
  }, 120_000);

  test("zip bomb, too many entries, symlink or escaping entries, an oversized upload: clear errors, nothing changes", async () => {
    const before = await snapshot();
    const dumpEntry = { name: "dump.sql", data: Buffer.from(legitSql) };
    const bomb = await writeZip(join(tmp, "bomb.zip"), [
      dumpEntry,
      { name: "filestore/00/zeros", data: Buffer.alloc(16 * MiB) },
    ]);
    const many = await writeZip(join(tmp, "many.zip"), [
      dumpEntry,
      ...Array.from({ length: 150 }, (_, i) => ({ name: `filestore/aa/f${i}`, data: Buffer.from(`file ${i}`) })),
    ]);
    const link = await writeZip(join(tmp, "link.zip"), [
      dumpEntry,
      { name: "filestore/ab/link", data: Buffer.from("/etc/odooops"), mode: 0o120777 },
    ]);
    // yazl refuses to write "..": write a same-length name and patch it in both headers.
    const [innocent, escapingName] = ["filestore/zz/zzzzzzzzz", "filestore/../../../pwn"];
    expect(innocent.length).toBe(escapingName.length);
    const escaping = await writeZip(join(tmp, "escaping.zip"), [dumpEntry, { name: innocent, data: Buffer.from("x") }]);
    writeFileSync(
      escaping,
      Buffer.from(readFileSync(escaping).toString("latin1").split(innocent).join(escapingName), "latin1"),
    );
    for (const [zip, message] of [
      [bomb, "uncompressed"],
      [many, "entries"],
      [link, "symlink"],
      [escaping, "relative path"],
    ] as const) {
      const job = await importJob(zip);
      expect(job.status).toBe("failed");
      expect(job.error).toContain(message);
      await expectUnharmed(before);
    }
    const big = await writeZip(join(tmp, "big.zip"), [
      dumpEntry,
      { name: "filestore/bb/random", data: randomBytes(3 * MiB), compress: false },
    ]);
    const res = await importFile(big);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("imports.maxUploadMb");
    await expectUnharmed(before);
  }, 400_000);
});
