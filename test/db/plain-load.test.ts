/**
 * Loading dumps as the env's own role on a real PostgreSQL 15 cluster: Odoo's extensions
 * (pg_trgm, unaccent: "trusted" since PostgreSQL 13, so the database owner may create them)
 * come back from a plain dump through psql and from a custom-format archive through pg_restore;
 * pg_dump's own `\restrict` / `\unrestrict` lines are left out of what psql reads, any other
 * `\unrestrict` is refused before psql sees it; free space is checked against statfs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pgRestore } from "../../src/db/backup/commands";
import { dumpRanges, loadPlainDump } from "../../src/db/plain-load";
import { assertFreeSpace } from "../../src/db/space";
import { Invalid } from "../../src/errors";
import { run } from "../../src/exec/run";
import { createDatabase, createRole, pgConnect } from "../../src/host/postgres";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, removeTempDir } from "../support/tmp";

let pg: TestPostgres;
let admin: SQL;
let tmp: string;
const source = { user: "odoo_src", password: "pw-src-secret" };
const target = { user: "odoo_dst", password: "pw-dst-secret" };
const conn = () => ({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
/** `role` logged in to the test cluster over TCP, as the daemon logs in as an env's role. */
const asRole = (role: { user: string; password: string }) => ({ host: pg.host, port: pg.port, ...role });

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  admin = pgConnect(conn());
  tmp = makeTempDir("odooops-plain-load-");
  await createRole(admin, source.user, source.password);
  await createRole(admin, target.user, target.password);
  await createDatabase(admin, "odoo_src", source.user);
  const sql = pgConnect({ ...asRole(source), database: "odoo_src" });
  try {
    await sql.unsafe(`
      CREATE EXTENSION pg_trgm; CREATE EXTENSION unaccent;
      CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, note text);
      CREATE INDEX res_partner_name_trgm ON res_partner USING gin (name gin_trgm_ops);
      INSERT INTO res_partner (name, note) VALUES ('Crème brûlée', E'tab\\there'), ('back\\slash', '\\! not a command'), ('plain', NULL);`);
  } finally {
    await sql.close();
  }
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await pg?.stop();
  if (tmp) removeTempDir(tmp);
}, 60_000);

async function contents(db: string) {
  const sql = pgConnect({ ...asRole(target), database: db });
  try {
    const rows = await sql<
      { name: string; note: string | null }[]
    >`SELECT name, note FROM public.res_partner ORDER BY id`;
    const ext = await sql<
      { e: string; o: string }[]
    >`SELECT extname AS e, pg_get_userbyid(extowner) AS o FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1`;
    const [u] = await sql<{ u: string }[]>`SELECT public.unaccent('Crème') AS u`;
    const [sim] = await sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM public.res_partner WHERE name OPERATOR(public.%) 'Crème brûle'`;
    return {
      rows: rows.map((r) => [r.name, r.note]),
      ext: ext.map((r) => `${r.e}:${r.o}`),
      unaccent: u?.u,
      similar: sim?.n,
    };
  } finally {
    await sql.close();
  }
}

const dumpArgs = () => ["-h", pg.host, "-p", String(pg.port), "-U", pg.user, "-d", "odoo_src"];

describe("dumps load as the env's own role, Odoo's extensions included", () => {
  test("plain dump through restricted psql", async () => {
    const file = join(tmp, "plain.sql");
    await run({
      argv: ["pg_dump", "-Fp", "--no-owner", "--no-privileges", "-f", file, ...dumpArgs()],
      env: { PGPASSWORD: pg.password },
    });
    await createDatabase(admin, "odoo_dst_plain", target.user);
    await loadPlainDump(asRole(target), "odoo_dst_plain", file);
    expect(await contents("odoo_dst_plain")).toEqual({
      rows: [
        ["Crème brûlée", "tab\there"],
        ["back\\slash", "\\! not a command"],
        ["plain", null],
      ],
      ext: ["pg_trgm:odoo_dst", "unaccent:odoo_dst"],
      unaccent: "Creme",
      similar: 1,
    });
  });

  test("custom-format archive through pg_restore", async () => {
    const file = join(tmp, "custom.dump");
    await run({ argv: ["pg_dump", "-Fc", "-f", file, ...dumpArgs()], env: { PGPASSWORD: pg.password } });
    await createDatabase(admin, "odoo_dst_custom", target.user);
    await run(pgRestore(asRole(target), "odoo_dst_custom", { jobs: 2, file }));
    expect((await contents("odoo_dst_custom")).ext).toEqual(["pg_trgm:odoo_dst", "unaccent:odoo_dst"]);
    expect((await contents("odoo_dst_custom")).rows).toHaveLength(3);
  });
});

describe("what psql reads", () => {
  test("pg_dump's \\restrict header and \\unrestrict trailer are left out; anywhere else they stay", async () => {
    const text = "--\n-- dump\n--\n\n\\restrict K1\n\nSELECT 1;\n-- end\n\n\\unrestrict K1\n\n";
    const file = join(tmp, "edges.sql");
    writeFileSync(file, text);
    const kept = (await dumpRanges(file, text.length)).map((r) => text.slice(r.start, r.end)).join("");
    expect(kept).toBe("--\n-- dump\n--\n\n\nSELECT 1;\n-- end\n\n\n");
    const late = "SELECT 1;\n\\restrict K1\nSELECT 2;\n";
    writeFileSync(file, late);
    expect(await dumpRanges(file, late.length)).toEqual([{ start: 0, end: late.length }]);
    const otherKey = "\\restrict K1\nSELECT 1;\n\\unrestrict K2\n";
    writeFileSync(file, otherKey);
    expect((await dumpRanges(file, otherKey.length)).map((r) => otherKey.slice(r.start, r.end)).join("")).toBe(
      "SELECT 1;\n\\unrestrict K2\n",
    );
  });

  test("a dump with \\unrestrict inside is refused before psql reads it, and nothing is loaded", async () => {
    const marker = join(tmp, "pwned");
    const file = join(tmp, "unrestrict.sql");
    writeFileSync(file, `CREATE TABLE public.t (id int);\n\\unrestrict \`touch ${marker}\`\n`);
    await createDatabase(admin, "odoo_dst_refused", target.user);
    const err = await loadPlainDump(asRole(target), "odoo_dst_refused", file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Invalid);
    expect((err as Error).message).toContain("meta-command (\\unrestrict)");
    expect(await Bun.file(marker).exists()).toBe(false);
    const sql = pgConnect({ ...conn(), database: "odoo_dst_refused" });
    try {
      expect((await sql`SELECT 1 FROM pg_tables WHERE schemaname = 'public'`).length).toBe(0);
    } finally {
      await sql.close();
    }
  });
});

describe("free space", () => {
  test("more than the filesystem has free is refused with both figures; paths on one filesystem add up", () => {
    const s = statfsSync(tmp);
    const free = s.bavail * s.bsize;
    expect(() => assertFreeSpace("the upload", [{ path: join(tmp, "x"), bytes: 1024 }])).not.toThrow();
    expect(() => assertFreeSpace("the upload", [{ path: join(tmp, "x"), bytes: free + 1024 ** 3 }])).toThrow(
      /not enough free space for the upload on the filesystem of .*: needs .*, .* free/,
    );
    const half = Math.ceil(free / 2) + 1024 ** 2;
    expect(() =>
      assertFreeSpace("the unpacked zip", [
        { path: join(tmp, "a"), bytes: half },
        { path: join(tmp, "b"), bytes: half },
      ]),
    ).toThrow(Invalid);
  });
});
