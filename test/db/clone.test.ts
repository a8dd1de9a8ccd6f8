/**
 * Clone (template and streamed), anonymization, neutralization and the PII check, against a
 * real PostgreSQL 15 cluster and an Odoo-shaped database.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { pbkdf2Sync } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { Conflict, Invalid } from "../../src/errors";
import { createRole, databaseExists, pgConnect } from "../../src/host/postgres";
import { cloneDatabase, copyFilestore } from "../../src/db/backup/clone";
import { anonymizeDatabase, loadAnonymizeRules, odooPasswordHash } from "../../src/db/backup/anonymize";
import { neutralizeDatabase } from "../../src/db/backup/neutralize";
import { collectPii, scanForPii, type PiiNeedles } from "../../src/db/backup/pii";
import type { PgAdmin } from "../../src/db/backup/commands";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
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
  fx = await createOdooDatabase(admin, conn, {
    db: "odoo_prod",
    partners: 120,
    filestoreDir: join(root, "fs", "odoo_prod"),
  });
  before = await tableChecksums(conn, fx.db);
  const src = pgConnect({ ...source(), database: fx.db });
  needles = await collectPii(src);
  await src.close();
  for (const r of ["odoo_stage", "odoo_dev"]) await createRole(admin, r, `pw-${r}`);
}, SLOW);

afterAll(async () => {
  await admin?.close();
  await pg?.stop();
  if (root) removeTempDir(root);
}, SLOW);

/** The source env's role: clone's pg_dump logs in as it. */
function source() {
  return { host: pg.host, port: pg.port, user: fx.owner, password: fx.ownerPassword };
}

/** A copy's own role (created with password pw-<role> above), into the copy. */
function ownerOf(db: string, role: string) {
  return { host: pg.host, port: pg.port, user: role, password: `pw-${role}`, database: db };
}

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
  test(
    "auto with a session on the source streams pg_dump | pg_restore; data equal, owned by the target role",
    async () => {
      const busy = pgConnect({ ...conn, database: fx.db });
      await busy`SELECT 1`;
      try {
        const r = await cloneDatabase({
          pg: conn,
          sourceLogin: source(),
          sourceDb: fx.db,
          targetDb: "odoo_stage",
          owner: ownerOf("odoo_stage", "odoo_stage"),
          log: memoryLog(),
        });
        expect(r.method).toBe("stream");
        expect(r.reason).toContain("session(s) on the source");
        expect(r.bytes).toBeGreaterThan(0);
      } finally {
        await busy.close();
      }
      expect(await tableChecksums(conn, "odoo_stage")).toEqual(before);
      expect(await owners("odoo_stage")).toEqual(["odoo_stage"]);
    },
    SLOW,
  );

  test(
    "auto with an idle source uses the template copy; every object moves to the target role, the source keeps its owner",
    async () => {
      const r = await cloneDatabase({
        pg: conn,
        sourceLogin: source(),
        sourceDb: fx.db,
        targetDb: "odoo_dev",
        owner: ownerOf("odoo_dev", "odoo_dev"),
        log: memoryLog(),
      });
      expect(r).toMatchObject({ method: "template", bytes: null });
      expect(await tableChecksums(conn, "odoo_dev")).toEqual(before);
      expect(await owners("odoo_dev")).toEqual(["odoo_dev"]);
      const dbs = await admin<{ d: string; o: string }[]>`
      SELECT datname AS d, pg_get_userbyid(datdba) AS o FROM pg_database WHERE datname IN ('odoo_prod', 'odoo_dev') ORDER BY 1`;
      expect(dbs.map((x) => ({ ...x }))).toEqual([
        { d: "odoo_dev", o: "odoo_dev" },
        { d: "odoo_prod", o: "odoo_prod" },
      ]);
      // The target role can use its copy (CONNECT granted, PUBLIC revoked).
      const asOwner = pgConnect({
        host: pg.host,
        port: pg.port,
        user: "odoo_dev",
        password: "pw-odoo_dev",
        database: "odoo_dev",
      });
      try {
        await asOwner`UPDATE res_partner SET name = name WHERE id = 1`;
      } finally {
        await asOwner.close();
      }
    },
    SLOW,
  );

  test(
    "existing target is a Conflict; a failing clone leaves no target behind",
    async () => {
      await expect(
        cloneDatabase({
          pg: conn,
          sourceLogin: source(),
          sourceDb: fx.db,
          targetDb: "odoo_dev",
          owner: ownerOf("odoo_dev", "odoo_dev"),
          log: memoryLog(),
        }),
      ).rejects.toThrow(Conflict);
      await expect(
        cloneDatabase({
          pg: conn,
          sourceLogin: source(),
          sourceDb: "odoo_missing",
          targetDb: "odoo_tmp_x",
          owner: ownerOf("odoo_tmp_x", "odoo_dev"),
          method: "stream",
          log: memoryLog(),
        }),
      ).rejects.toThrow();
      expect(await databaseExists(admin, "odoo_tmp_x")).toBe(false);
    },
    SLOW,
  );

  test(
    "H4 attack: the copy shares no inode with the source; rewriting a copied file leaves the source's as it was",
    async () => {
      const dst = join(root, "fs", "odoo_stage");
      await copyFilestore(fx.filestoreDir, dst);
      const rels = (await Array.fromAsync(new Bun.Glob("**/*").scan({ cwd: fx.filestoreDir }))).sort();
      expect((await Array.fromAsync(new Bun.Glob("**/*").scan({ cwd: dst }))).sort()).toEqual(rels);
      for (const rel of rels) {
        expect(statSync(join(dst, rel)).ino).not.toBe(statSync(join(fx.filestoreDir, rel)).ino);
        expect(statSync(join(dst, rel)).mode).toBe(statSync(join(fx.filestoreDir, rel)).mode);
      }
      // What staging code does to an asset bundle: rewrite the file in place.
      const victim = rels[0] ?? "";
      const original = readFileSync(join(fx.filestoreDir, victim));
      writeFileSync(join(dst, victim), "rewritten by the copy's code");
      expect(readFileSync(join(fx.filestoreDir, victim))).toEqual(original);
      await expect(copyFilestore(fx.filestoreDir, dst)).rejects.toThrow(Conflict);
      rmSync(dst, { recursive: true });
    },
    SLOW,
  );

  test(
    "H5: a link in the source filestore is not copied; a source filestore that is a link is refused",
    async () => {
      const secretDir = join(root, "host-secret");
      mkdirSync(secretDir, { recursive: true });
      const secret = `SECRET_${randomSuffix(16)}`;
      writeFileSync(join(secretDir, "secret.key"), secret);
      const src = join(root, "fs2", "odoo_linked");
      mkdirSync(join(src, "ab"), { recursive: true });
      writeFileSync(join(src, "ab", "abcd"), "attachment");
      symlinkSync(secretDir, join(src, "ab", "evil"));
      symlinkSync(join(secretDir, "secret.key"), join(src, "key"));
      const dst = join(root, "fs2", "odoo_copy");
      const copied = await copyFilestore(src, dst);
      expect(copied).toEqual({ files: 1, skipped: ["ab/evil", "key"] });
      expect(readdirSync(dst, { recursive: true }).map(String).sort()).toEqual(["ab", "ab/abcd"]);

      const linked = join(root, "fs3", "odoo_linked");
      mkdirSync(join(root, "fs3"));
      symlinkSync(secretDir, linked);
      await expect(copyFilestore(linked, join(root, "fs3", "odoo_copy"))).rejects.toThrow(Invalid);
      expect(existsSync(join(root, "fs3", "odoo_copy"))).toBe(false);

      // The target env's filestore root replaced by a link: nothing is written where it points.
      symlinkSync(secretDir, join(root, "fs4"));
      await expect(copyFilestore(src, join(root, "fs4", "odoo_copy"))).rejects.toThrow(Invalid);
      expect(existsSync(join(secretDir, "odoo_copy"))).toBe(false);
    },
    SLOW,
  );
});

describe("anonymize + neutralize + PII check", () => {
  test(
    "the copy has the source's PII before, none after; rules are deterministic; source untouched",
    async () => {
      const copy = pgConnect(ownerOf("odoo_stage", "odoo_stage"));
      try {
        const dirty = await scanForPii(copy, needles);
        const where = [...new Set(dirty.map((h) => `${h.table}.${h.column}`))].sort();
        expect(where).toEqual([
          "mail_message.body",
          "mail_message.email_from",
          "res_company.email",
          "res_company.phone",
          "res_partner.comment",
          "res_partner.email",
          "res_partner.mobile",
          "res_partner.phone",
        ]);
        expect(dirty.every((h) => h.sample.endsWith("***") && h.sample.length === 6)).toBe(true);

        const devPassword = `dev-${crypto.randomUUID()}`;
        const report = await anonymizeDatabase(
          ownerOf("odoo_stage", "odoo_stage"),
          loadAnonymizeRules(),
          memoryLog(),
          devPassword,
        );
        expect(report.tables.find((t) => t.table === "res_partner")).toEqual({
          table: "res_partner",
          rows: 120,
          columns: [
            "name",
            "complete_name",
            "email",
            "phone",
            "mobile",
            "street",
            "street2",
            "zip",
            "city",
            "vat",
            "comment",
          ],
        });
        expect(report.skipped).toContain("res_partner_bank");
        expect(report.skipped).toContain("res_partner.email_normalized");
        expect(await scanForPii(copy, needles)).toEqual([]);

        const partners = await copy<{ id: number; email: string | null; phone: string | null }[]>`
        SELECT id, email, phone FROM res_partner WHERE id IN (1, 5) ORDER BY id`;
        // Format-preserving fakes (anonymize/fake.ts): still an address, still phone-shaped.
        for (const p of partners) {
          expect(p.email ?? "u0@example.invalid").toMatch(/^u[0-9a-f]{16}@example\.invalid$/);
          expect(p.phone ?? "+44 7700 900000").toMatch(/^\+44 7700 900\d{3}$/);
        }
        const [msg] = await copy<
          { body: string; email_from: string }[]
        >`SELECT body, email_from FROM mail_message WHERE author_id = 7`;
        expect(msg?.body).toBe("<p>anonymized</p>");
        expect(msg?.email_from).toMatch(/^u[0-9a-f]{16}@example\.invalid$/);

        // Every user logs in with the copy's dev password (Odoo's pbkdf2-sha512 format).
        const users = await copy<
          { login: string; password: string }[]
        >`SELECT login, password FROM res_users ORDER BY id`;
        expect(users.map((u) => u.login)).toEqual(["__system__", "admin", "demo"]);
        for (const u of users) {
          const [, scheme, rounds, salt, hash] = u.password.split("$");
          expect(scheme).toBe("pbkdf2-sha512");
          const ab64 = (s: string) => Buffer.from(s.replace(/\./g, "+"), "base64");
          const dk = pbkdf2Sync(devPassword, ab64(salt ?? ""), Number(rounds), 64, "sha512");
          expect(dk.equals(ab64(hash ?? ""))).toBe(true);
        }

        const n = await neutralizeDatabase(
          ownerOf("odoo_stage", "odoo_stage"),
          { baseUrl: "https://shop.staging.example.net" },
          memoryLog(),
        );
        expect(n).toMatchObject({ cronsDisabled: 3, mailServersDisabled: 1, fetchmailServersDisabled: 0 });
        const [crons] = await copy<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_cron WHERE active`;
        const [mail] = await copy<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_mail_server WHERE active`;
        expect([crons?.n, mail?.n]).toEqual([0, 0]);
        const params = Object.fromEntries(
          (await copy<{ key: string; value: string }[]>`SELECT key, value FROM ir_config_parameter`).map((p) => [
            p.key,
            p.value,
          ]),
        );
        expect(params["web.base.url"]).toBe("https://shop.staging.example.net");
        expect(params["database.is_neutralized"]).toBe("True");
        const src = pgConnect({ ...conn, database: fx.db });
        const srcParams = Object.fromEntries(
          (await src<{ key: string; value: string }[]>`SELECT key, value FROM ir_config_parameter`).map((p) => [
            p.key,
            p.value,
          ]),
        );
        await src.close();
        expect(params["database.uuid"]).not.toBe(srcParams["database.uuid"]);
        expect(params["database.secret"]).not.toBe(srcParams["database.secret"]);
      } finally {
        await copy.close();
      }
      expect(await tableChecksums(conn, fx.db)).toEqual(before);
    },
    SLOW,
  );

  test(
    "a project override that keeps messages fails the PII check unless it excludes them knowingly",
    async () => {
      const keepMessages = "version: 1\ntables:\n  mail_message:\n    enabled: false\n";
      await cloneDatabase({
        pg: conn,
        sourceLogin: source(),
        sourceDb: fx.db,
        targetDb: "odoo_keep",
        owner: ownerOf("odoo_keep", "odoo_dev"),
        method: "stream",
        log: memoryLog(),
      });
      await anonymizeDatabase(
        ownerOf("odoo_keep", "odoo_dev"),
        loadAnonymizeRules(keepMessages),
        memoryLog(),
        "dev-keep-messages",
      );
      const copy = pgConnect(ownerOf("odoo_keep", "odoo_dev"));
      try {
        const hits = await scanForPii(copy, needles);
        expect([...new Set(hits.map((h) => `${h.table}.${h.column}`))].sort()).toEqual([
          "mail_message.body",
          "mail_message.email_from",
        ]);
        const excluded = loadAnonymizeRules(
          `${keepMessages}piiCheck:\n  exclude: [mail_message.body, mail_message.email_from]\n`,
        );
        expect(await scanForPii(copy, needles, excluded.piiCheck.exclude)).toEqual([]);
      } finally {
        await copy.close();
      }
    },
    SLOW,
  );

  test("rules are validated with the offending key named", () => {
    expect(() =>
      loadAnonymizeRules(
        "version: 1\ntables:\n  res_partner:\n    columns:\n      email: { nope: 1 }\n",
        "proj/.odooops/anonymize.yaml",
      ),
    ).toThrow(/proj\/.odooops\/anonymize.yaml:5: tables.res_partner.columns.email: /);
    expect(() => loadAnonymizeRules("tables:\n  Bad-Table: {}\n")).toThrow(Invalid);
    expect(() => loadAnonymizeRules(": : :")).toThrow(Invalid);
    expect(odooPasswordHash("x", 1000, Buffer.alloc(16))).toMatch(
      /^\$pbkdf2-sha512\$1000\$AAAAAAAAAAAAAAAAAAAAAA\$[A-Za-z0-9./]{86}$/,
    );
  });
});
