/**
 * swapIn / swapBack against a real PostgreSQL and real directories, from every state a crash can
 * leave: twice in a row, after only the database moved, between the two filestore renames.
 * The env never ends without a database or a filestore, and the old ones are never lost.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { swapDatabases } from "../../src/db/backup/swap";
import { newReplaceToken, replaceNames, swapBack, swapIn, type ReplaceNames } from "../../src/db/replace";
import { createDatabase, createRole, dropDatabase, pgConnect } from "../../src/host/postgres";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, removeTempDir } from "../support/tmp";

let pg: TestPostgres;
let admin: SQL;
let root: string;

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  admin = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
  await createRole(admin, "odoo_swap", "pw-swap");
  root = makeTempDir("odooops-replace-");
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await pg?.stop();
  if (root) removeTempDir(root);
}, 120_000);

/** Which database holds which data: each gets a one-row table naming it. */
async function label(db: string): Promise<string> {
  const sql = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: db });
  try {
    return (await sql<{ v: string }[]>`SELECT v FROM what`)[0]?.v ?? "";
  } finally {
    await sql.close();
  }
}

async function makeDb(db: string, what: string): Promise<void> {
  await createDatabase(admin, db, "odoo_swap");
  const sql = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: db });
  try {
    await sql`CREATE TABLE what (v text)`;
    await sql`INSERT INTO what VALUES (${what})`;
  } finally {
    await sql.close();
  }
}

async function dbs(prefix: string): Promise<string[]> {
  return (
    await admin<{ d: string }[]>`SELECT datname AS d FROM pg_database WHERE starts_with(datname, ${prefix}) ORDER BY 1`
  ).map((r) => r.d);
}

function fsLabel(dir: string): string | null {
  return existsSync(join(dir, "what")) ? readFileSync(join(dir, "what"), "utf8") : null;
}

/** A live env (database + filestore "live") and a prepared copy ("copy") beside it. */
async function setup(name: string): Promise<ReplaceNames> {
  const n = replaceNames(name, join(root, name, "data"), newReplaceToken());
  await makeDb(n.db, "live");
  await makeDb(n.newDb, "copy");
  mkdirSync(n.filestoreDir, { recursive: true });
  writeFileSync(join(n.filestoreDir, "what"), "live");
  mkdirSync(n.stagedDir, { recursive: true });
  writeFileSync(join(n.stagedDir, "what"), "copy");
  return n;
}

async function expectSwapped(n: ReplaceNames): Promise<void> {
  expect(await dbs(n.db)).toEqual([n.db, n.oldDb].sort());
  expect(await label(n.db)).toBe("copy");
  expect(await label(n.oldDb)).toBe("live");
  expect(fsLabel(n.filestoreDir)).toBe("copy");
  expect(fsLabel(n.previousDir)).toBe("live");
  expect(existsSync(n.stagedDir)).toBe(false);
}

async function expectOriginal(n: ReplaceNames): Promise<void> {
  expect(await dbs(n.db)).toEqual([n.db, n.newDb].sort());
  expect(await label(n.db)).toBe("live");
  expect(await label(n.newDb)).toBe("copy");
  expect(fsLabel(n.filestoreDir)).toBe("live");
  expect(fsLabel(n.stagedDir)).toBe("copy");
  expect(existsSync(n.previousDir)).toBe(false);
}

describe("replace names", () => {
  test("derived from the token, valid identifiers even for a 63-character database name", () => {
    const long = `odoo_${"x".repeat(58)}`;
    const n = replaceNames(long, "/srv/envs/x/data", "abcd1234");
    expect(n.newDb).toBe(`${long.slice(0, 50)}_new_abcd1234`);
    expect(n.oldDb).toBe(`${long.slice(0, 50)}_old_abcd1234`);
    expect(n.newDb.length).toBeLessThanOrEqual(63);
    expect(n.filestoreDir).toBe(`/srv/envs/x/data/filestore/${long}`);
    expect(n.stagedDir).toBe(`/srv/envs/x/data/filestore/.${long}.restore-${n.newDb}`);
    expect(n.previousDir).toBe(`/srv/envs/x/data/filestore/.${long}.old-abcd1234`);
    expect(replaceNames(long, "/d", "abcd1234")).toEqual(replaceNames(long, "/d", "abcd1234"));
    expect(newReplaceToken()).toMatch(/^[a-z0-9]{8}$/);
    expect(newReplaceToken()).not.toBe(newReplaceToken());
  });
});

describe("swapIn / swapBack", () => {
  test("swap in, again (no-op), back, again (no-op)", async () => {
    const n = await setup("odoo_a");
    expect(await swapIn(admin, n)).toEqual({ database: "swapped", filestore: "swapped", hadFilestore: true });
    await expectSwapped(n);
    expect(await swapIn(admin, n)).toEqual({
      database: "already swapped",
      filestore: "already swapped",
      hadFilestore: true,
    });
    await expectSwapped(n);
    expect(await swapBack(admin, n)).toEqual({ database: "restored", filestore: "restored" });
    await expectOriginal(n);
    expect(await swapBack(admin, n)).toEqual({ database: "untouched", filestore: "untouched" });
    await expectOriginal(n);
  }, 60_000);

  test("crash after the database swap, before the filestore: swapIn finishes; swapBack from there restores both", async () => {
    const n = await setup("odoo_b");
    await swapDatabases(admin, { current: n.db, replacement: n.newDb, previousName: n.oldDb });
    expect(await swapBack(admin, n)).toEqual({ database: "restored", filestore: "untouched" });
    await expectOriginal(n);
    await swapDatabases(admin, { current: n.db, replacement: n.newDb, previousName: n.oldDb });
    expect(await swapIn(admin, n)).toEqual({ database: "already swapped", filestore: "swapped", hadFilestore: true });
    await expectSwapped(n);
  }, 60_000);

  test("crash between the two filestore renames (no filestore in place): both directions recover it", async () => {
    const n = await setup("odoo_c");
    await swapDatabases(admin, { current: n.db, replacement: n.newDb, previousName: n.oldDb });
    renameSync(n.filestoreDir, n.previousDir);
    expect(await swapBack(admin, n)).toEqual({ database: "restored", filestore: "restored" });
    await expectOriginal(n);
    await swapDatabases(admin, { current: n.db, replacement: n.newDb, previousName: n.oldDb });
    renameSync(n.filestoreDir, n.previousDir);
    await swapIn(admin, n);
    await expectSwapped(n);
  }, 60_000);

  test("an env without a filestore: the copy's comes in; swapping back leaves it without one again", async () => {
    const n = await setup("odoo_d");
    removeTempDir(n.filestoreDir);
    expect(await swapIn(admin, n)).toEqual({ database: "swapped", filestore: "swapped", hadFilestore: false });
    expect(fsLabel(n.filestoreDir)).toBe("copy");
    expect(await swapBack(admin, n)).toEqual({ database: "restored", filestore: "restored" });
    expect(existsSync(n.filestoreDir)).toBe(false);
    expect(fsLabel(n.stagedDir)).toBe("copy");
  }, 60_000);

  test("after the old database was dropped (a finished replace), swapBack changes nothing", async () => {
    const n = await setup("odoo_e");
    await swapIn(admin, n);
    await dropDatabase(admin, n.oldDb);
    removeTempDir(n.previousDir);
    expect(await swapBack(admin, n)).toEqual({ database: "untouched", filestore: "untouched" });
    expect(await dbs(n.db)).toEqual([n.db]);
    expect(await label(n.db)).toBe("copy");
    expect(fsLabel(n.filestoreDir)).toBe("copy");
  }, 60_000);

  test("neither the copy nor the env's database: swapIn refuses (never invents one)", async () => {
    const n = replaceNames("odoo_ghost", join(root, "ghost"), newReplaceToken());
    await expect(swapIn(admin, n)).rejects.toThrow("neither the prepared database");
  });
});
