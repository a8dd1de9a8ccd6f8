/**
 * sanitizeCopy on real Odoo-shaped databases: anonymization with its PII check (which fails when
 * a column the rules do not cover still quotes the source), and a new identity without
 * neutralizing (a copy becoming production keeps its crons).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { join } from "node:path";
import { collectPii, scanForPii } from "../../src/db/backup/pii";
import type { PgAdmin } from "../../src/db/backup/commands";
import { hasNeutralizeCommand, sanitizeCopy } from "../../src/db/sanitize";
import { Invalid } from "../../src/errors";
import { pgConnect, withTenant, type TenantLogin } from "../../src/host/postgres";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { createOdooDatabase, type OdooFixture } from "./odoo-fixture";
import { memoryLog } from "./quiet-log";

let pg: TestPostgres;
let admin: SQL;
let conn: PgAdmin;
let root: string;

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  conn = { host: pg.host, port: pg.port, user: pg.user, password: pg.password };
  admin = pgConnect(conn);
  root = makeTempDir("odooops-sanitize-");
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await pg?.stop();
  if (root) removeTempDir(root);
}, 120_000);

async function withDb<T>(db: string, fn: (sql: SQL) => Promise<T>, as: PgAdmin = conn): Promise<T> {
  const sql = pgConnect({ ...as, database: db });
  try {
    return await fn(sql);
  } finally {
    await sql.close();
  }
}

/** The copy's own role, as the daemon logs in to sanitize it. */
function owner(fx: OdooFixture): TenantLogin {
  return { host: pg.host, port: pg.port, user: fx.owner, password: fx.ownerPassword, database: fx.db };
}

async function params(db: string): Promise<Record<string, string>> {
  return withDb(db, async (sql) =>
    Object.fromEntries(
      (await sql<{ key: string; value: string }[]>`SELECT key, value FROM ir_config_parameter`).map((r) => [
        r.key,
        r.value,
      ]),
    ),
  );
}

async function activeCrons(db: string): Promise<number> {
  return withDb(
    db,
    async (sql) => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_cron WHERE active`)[0]?.n ?? -1,
  );
}

describe("sanitizeCopy", () => {
  test("anonymize only (own data, not neutralized): no PII left, identity and crons unchanged", async () => {
    const fx = await createOdooDatabase(admin, conn, {
      db: "odoo_anon",
      partners: 40,
      filestoreDir: join(root, "anon"),
    });
    const needles = await withTenant(owner(fx), collectPii);
    const before = await params(fx.db);
    const crons = await activeCrons(fx.db);
    const r = await sanitizeCopy(
      owner(fx),
      {
        anonymize: true,
        neutralize: false,
        rebase: false,
        baseUrl: "http://unused.test",
        devPassword: "dev-sanitize-test",
      },
      memoryLog(),
    );
    expect(r.anonymized?.piiChecked).toEqual({ emails: needles.emails.length, phones: needles.phones.length });
    expect(r.anonymized?.tables).toContain("res_partner");
    expect(r.neutralized).toBeNull();
    expect(r.odooSeries).toBe("17.0");
    expect(await withTenant(owner(fx), (sql) => scanForPii(sql, needles))).toEqual([]);
    const after = await params(fx.db);
    expect(after["web.base.url"]).toBe(before["web.base.url"]);
    expect(after["database.uuid"]).toBe(before["database.uuid"]);
    expect(await activeCrons(fx.db)).toBe(crons);
  }, 120_000);

  test("the PII check fails the copy when a column the rules miss still quotes the source", async () => {
    const fx = await createOdooDatabase(admin, conn, {
      db: "odoo_leak",
      partners: 20,
      filestoreDir: join(root, "leak"),
    });
    // A custom module's table, created by the env's role as Odoo would.
    await withDb(
      fx.db,
      async (sql) => {
        await sql`CREATE TABLE x_notes (id serial PRIMARY KEY, note text)`;
        await sql`INSERT INTO x_notes (note) VALUES (${`call back ${fx.emails[3]}`})`;
      },
      { ...conn, user: fx.owner, password: fx.ownerPassword },
    );
    const error = await sanitizeCopy(
      owner(fx),
      {
        anonymize: true,
        neutralize: true,
        rebase: true,
        baseUrl: "http://stage.test",
        devPassword: "dev-sanitize-test",
      },
      memoryLog(),
    ).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Invalid);
    expect((error as Invalid).message).toBe(
      "PII check failed: source data remains after anonymizing in x_notes.note: 1 email (e.g. cus***); add rules for these columns (or exclude them knowingly)",
    );
    // Neutralization never ran on a copy that failed the check.
    expect((await params(fx.db))["web.base.url"]).toBe("https://shop.example.com");
  }, 120_000);

  test("rebase without neutralizing (a copy that becomes production): new URL, uuid and secret; crons stay on", async () => {
    const fx = await createOdooDatabase(admin, conn, {
      db: "odoo_rebase",
      partners: 10,
      filestoreDir: join(root, "rebase"),
    });
    const before = await params(fx.db);
    const crons = await activeCrons(fx.db);
    expect(crons).toBeGreaterThan(0);
    const r = await sanitizeCopy(
      owner(fx),
      { anonymize: false, neutralize: false, rebase: true, baseUrl: "https://shop.example.com:8443" },
      memoryLog(),
    );
    expect(r).toMatchObject({ anonymized: null, neutralized: null, baseUrl: "https://shop.example.com:8443" });
    const after = await params(fx.db);
    expect(after["web.base.url"]).toBe("https://shop.example.com:8443");
    expect(after["database.uuid"]).not.toBe(before["database.uuid"]);
    expect(after["database.uuid"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(after["database.secret"]).not.toBe(before["database.secret"]);
    expect(await activeCrons(fx.db)).toBe(crons);
  }, 120_000);

  test("odoo neutralize exists from Odoo 16 on", () => {
    expect(["17.0", "16.0", "saas~17.2", "18.0"].map(hasNeutralizeCommand)).toEqual([true, true, true, true]);
    expect(["15.0", "14.0", null, "", "garbage"].map(hasNeutralizeCommand)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
