/**
 * Clone (template and streamed), anonymization, neutralization and the PII check, against a
 * real PostgreSQL 15 cluster and an Odoo-shaped database.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { pbkdf2Sync } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import { Conflict, Invalid } from "../../src/errors";
import { createRole, databaseExists, pgConnect } from "../../src/host/postgres";
import { cloneDatabase, copyFilestore } from "../../src/db/backup/clone";
import { anonymizeDatabase, loadAnonymizeRules, odooPasswordHash } from "../../src/db/backup/anonymize";
import { neutralizeDatabase } from "../../src/db/backup/neutralize";
import { collectPii, scanForPii, type PiiNeedles } from "../../src/db/backup/pii";
import type { PgAdmin } from "../../src/db/backup/commands";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { createOdooDatabase, tableChecksums, type OdooFixture } from "./odoo-fixture";
import { memoryLog } from "./quiet-log";

const SLOW = 120_000;

let pg: TestPostgres;
let admin: SQL;
let conn: PgAdmin;
let root: string;
let fx: OdooFixture;
let before: Record<string, string>;
let needles: PiiNeedles;

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  conn = { host: pg.host, port: pg.port, user: pg.user, password: pg.password };
  admin = pgConnect(conn);
  root = makeTempDir("odooops-clone-");
  fx = await createOdooDatabase(admin, conn, { db: "odoo_prod", partners: 120, filestoreDir: join(root, "fs", "odoo_prod") });
  before = await tableChecksums(conn, fx.db);
  const src = pgConnect({ ...conn, database: fx.db });
  needles = await collectPii(src);
  await src.close();
  for (const r of ["odoo_stage", "odoo_dev"]) await createRole(admin, r, `pw-${r}`);
}, SLOW);

afterAll(async () => {
  await admin?.close();
  await pg?.stop();
  if (root) removeTempDir(root);
}, SLOW);

async function owners(db: string): Promise<string[]> {
  const c = pgConnect({ ...conn, database: db });
  try {
    const rows = await c<{ o: string }[]>`
      SELECT DISTINCT pg_get_userbyid(c.relowner) AS o FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'S', 'i') ORDER BY 1`;
    return rows.map((r) => r.o);
  } finally {
    await c.close();
  }
}

describe("clone", () => {
  test("auto with a session on the source streams pg_dump | pg_restore; data equal, owned by the target role", async () => {
    const busy = pgConnect({ ...conn, database: fx.db });
    await busy`SELECT 1`;
    try {
      const r = await cloneDatabase({ pg: conn, sourceDb: fx.db, targetDb: "odoo_stage", owner: { user: "odoo_stage", password: "pw-odoo_stage" }, log: memoryLog() });
      expect(r.method).toBe("stream");
      expect(r.reason).toContain("session(s) on the source");
      expect(r.bytes).toBeGreaterThan(0);
    } finally {
      await busy.close();
    }
    expect(await tableChecksums(conn, "odoo_stage")).toEqual(before);
    expect(await owners("odoo_stage")).toEqual(["odoo_stage"]);
  }, SLOW);

  test("auto with an idle source uses the template copy; every object moves to the target role, the source keeps its owner", async () => {
    const r = await cloneDatabase({ pg: conn, sourceDb: fx.db, targetDb: "odoo_dev", owner: { user: "odoo_dev", password: "pw-odoo_dev" }, log: memoryLog() });
    expect(r).toMatchObject({ method: "template", bytes: null });
    expect(await tableChecksums(conn, "odoo_dev")).toEqual(before);
    expect(await owners("odoo_dev")).toEqual(["odoo_dev"]);
    const dbs = await admin<{ d: string; o: string }[]>`
      SELECT datname AS d, pg_get_userbyid(datdba) AS o FROM pg_database WHERE datname IN ('odoo_prod', 'odoo_dev') ORDER BY 1`;
    expect(dbs.map((x) => ({ ...x }))).toEqual([{ d: "odoo_dev", o: "odoo_dev" }, { d: "odoo_prod", o: "odoo_prod" }]);
    // The target role can use its copy (CONNECT granted, PUBLIC revoked).
    const asOwner = pgConnect({ host: pg.host, port: pg.port, user: "odoo_dev", password: "pw-odoo_dev", database: "odoo_dev" });
    try {
      await asOwner`UPDATE res_partner SET name = name WHERE id = 1`;
    } finally {
      await asOwner.close();
    }
  }, SLOW);

  test("existing target is a Conflict; a failing clone leaves no target behind", async () => {
    await expect(cloneDatabase({ pg: conn, sourceDb: fx.db, targetDb: "odoo_dev", owner: { user: "odoo_dev", password: "pw-odoo_dev" }, log: memoryLog() })).rejects.toThrow(Conflict);
    await expect(
      cloneDatabase({ pg: conn, sourceDb: "odoo_missing", targetDb: "odoo_tmp_x", owner: { user: "odoo_dev", password: "pw-odoo_dev" }, method: "stream", log: memoryLog() }),
    ).rejects.toThrow();
    expect(await databaseExists(admin, "odoo_tmp_x")).toBe(false);
  }, SLOW);

  test("copyFilestore hardlinks on the same filesystem", async () => {
    const dst = join(root, "fs", "odoo_stage");
    expect(await copyFilestore(fx.filestoreDir, dst)).toBe("hardlink");
    const anyFile = (await Array.fromAsync(new Bun.Glob("*/*").scan({ cwd: dst })))[0] ?? "";
    expect(statSync(join(dst, anyFile)).ino).toBe(statSync(join(fx.filestoreDir, anyFile)).ino);
    await expect(copyFilestore(fx.filestoreDir, dst)).rejects.toThrow(Conflict);
  }, SLOW);
});

describe("anonymize + neutralize + PII check", () => {
  test("the copy has the source's PII before, none after; rules are deterministic; source untouched", async () => {
    const copy = pgConnect({ ...conn, database: "odoo_stage" });
    try {
      const dirty = await scanForPii(copy, needles);
      const where = [...new Set(dirty.map((h) => `${h.table}.${h.column}`))].sort();
      expect(where).toEqual([
        "mail_message.body", "mail_message.email_from", "res_company.email", "res_company.phone",
        "res_partner.comment", "res_partner.email", "res_partner.mobile", "res_partner.phone",
      ]);
      expect(dirty.every((h) => h.sample.endsWith("***") && h.sample.length === 6)).toBe(true);

      const report = await anonymizeDatabase(conn, "odoo_stage", loadAnonymizeRules(), memoryLog());
      expect(report.tables.find((t) => t.table === "res_partner")).toEqual({
        table: "res_partner", rows: 120, columns: ["email", "phone", "mobile", "street", "street2", "vat", "comment"],
      });
      expect(report.skipped).toContain("res_partner_bank");
      expect(report.skipped).toContain("res_partner.email_normalized");
      expect(await scanForPii(copy, needles)).toEqual([]);

      const partners = await copy<{ id: number; email: string | null; phone: string | null }[]>`
        SELECT id, email, phone FROM res_partner WHERE id IN (1, 5) ORDER BY id`;
      expect(partners.map((p) => ({ ...p }))).toEqual([
        { id: 1, email: "partner-1@example.invalid", phone: null },
        { id: 5, email: "partner-5@example.invalid", phone: null },
      ]);
      const [msg] = await copy<{ body: string; email_from: string }[]>`SELECT body, email_from FROM mail_message WHERE author_id = 7`;
      expect({ ...msg }).toEqual({ body: `<p>Message 6 (anonymized)</p>`, email_from: "partner-7@example.invalid" });

      // Every user logs in with the documented dev password (Odoo's pbkdf2-sha512 format).
      const users = await copy<{ login: string; password: string }[]>`SELECT login, password FROM res_users ORDER BY id`;
      expect(users.map((u) => u.login)).toEqual(["__system__", "admin", "demo"]);
      for (const u of users) {
        const [, scheme, rounds, salt, hash] = u.password.split("$");
        expect(scheme).toBe("pbkdf2-sha512");
        const ab64 = (s: string) => Buffer.from(s.replace(/\./g, "+"), "base64");
        const dk = pbkdf2Sync("odooops-dev", ab64(salt ?? ""), Number(rounds), 64, "sha512");
        expect(dk.equals(ab64(hash ?? ""))).toBe(true);
      }

      const n = await neutralizeDatabase(conn, "odoo_stage", { baseUrl: "https://shop.staging.example.net" }, memoryLog());
      expect(n).toMatchObject({ cronsDisabled: 3, mailServersDisabled: 1, fetchmailServersDisabled: 0 });
      const [crons] = await copy<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_cron WHERE active`;
      const [mail] = await copy<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_mail_server WHERE active`;
      expect([crons?.n, mail?.n]).toEqual([0, 0]);
      const params = Object.fromEntries(
        (await copy<{ key: string; value: string }[]>`SELECT key, value FROM ir_config_parameter`).map((p) => [p.key, p.value]),
      );
      expect(params["web.base.url"]).toBe("https://shop.staging.example.net");
      expect(params["database.is_neutralized"]).toBe("True");
      const src = pgConnect({ ...conn, database: fx.db });
      const srcParams = Object.fromEntries((await src<{ key: string; value: string }[]>`SELECT key, value FROM ir_config_parameter`).map((p) => [p.key, p.value]));
      await src.close();
      expect(params["database.uuid"]).not.toBe(srcParams["database.uuid"]);
      expect(params["database.secret"]).not.toBe(srcParams["database.secret"]);
    } finally {
      await copy.close();
    }
    expect(await tableChecksums(conn, fx.db)).toEqual(before);
  }, SLOW);

  test("a project override that keeps messages fails the PII check unless it excludes them knowingly", async () => {
    const keepMessages = "version: 1\ntables:\n  mail_message:\n    enabled: false\n";
    await cloneDatabase({ pg: conn, sourceDb: fx.db, targetDb: "odoo_keep", owner: { user: "odoo_dev", password: "pw-odoo_dev" }, method: "stream", log: memoryLog() });
    await anonymizeDatabase(conn, "odoo_keep", loadAnonymizeRules(keepMessages), memoryLog());
    const copy = pgConnect({ ...conn, database: "odoo_keep" });
    try {
      const hits = await scanForPii(copy, needles);
      expect([...new Set(hits.map((h) => `${h.table}.${h.column}`))].sort()).toEqual(["mail_message.body", "mail_message.email_from"]);
      const excluded = loadAnonymizeRules(`${keepMessages}piiCheck:\n  exclude: [mail_message.body, mail_message.email_from]\n`);
      expect(await scanForPii(copy, needles, excluded.piiCheck.exclude)).toEqual([]);
    } finally {
      await copy.close();
    }
  }, SLOW);

  test("rules are validated with the offending key named", () => {
    expect(() => loadAnonymizeRules("version: 1\ntables:\n  res_partner:\n    columns:\n      email: { nope: 1 }\n", "proj/.odooops/anonymize.yaml")).toThrow(
      /proj\/.odooops\/anonymize.yaml:5: tables.res_partner.columns.email: /,
    );
    expect(() => loadAnonymizeRules("tables:\n  Bad-Table: {}\n")).toThrow(Invalid);
    expect(() => loadAnonymizeRules(": : :")).toThrow(Invalid);
    expect(odooPasswordHash("x", 1000, Buffer.alloc(16))).toMatch(/^\$pbkdf2-sha512\$1000\$AAAAAAAAAAAAAAAAAAAAAA\$[A-Za-z0-9./]{86}$/);
  });
});
