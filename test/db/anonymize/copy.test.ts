/**
 * The anonymizing copy against a real PostgreSQL 15 cluster: rows transformed while copied,
 * attachments replaced by placeholders, and — read from the copy's relation files on disk —
 * no source e-mail address or phone number anywhere, while a plain copy anonymized afterwards
 * by bare UPDATEs (the control) still holds them in its pages. anonymizeDatabase (restores into
 * non-production) UPDATEs and then rewrites the tables: its copy is clean on disk too.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { copyAnonymized, type AnonymizedCopyReport } from "../../../src/db/anonymize/copy";
import {
  anonymizeFilestoreInPlace,
  writeAnonymizedFilestore,
  type AnonymizedFilestoreReport,
} from "../../../src/db/anonymize/filestore";
import { PLACEHOLDERS } from "../../../src/db/anonymize/placeholders";
import {
  anonymizeDatabase,
  AnonymizeRulesSchema,
  type AnonymizeReport,
  type AnonymizeRules,
} from "../../../src/db/backup/anonymize";
import { cloneDatabase, copyFilestore } from "../../../src/db/backup/clone";
import type { PgAdmin } from "../../../src/db/backup/commands";
import { createDatabase, createRole, pgConnect } from "../../../src/host/postgres";
import { startPostgres, type TestPostgres } from "../../support/postgres";
import { makeTempDir, removeTempDir } from "../../support/tmp";
import { createOdooDatabase, filestoreChecksums, type OdooFixture } from "../odoo-fixture";
import { memoryLog } from "../quiet-log";

const SLOW = 120_000;
const sha1 = (b: Buffer | string) => createHash("sha1").update(b).digest("hex");

let pg: TestPostgres;
let admin: SQL;
let conn: PgAdmin;
let root: string;
let fx: OdooFixture;
let report: AnonymizedCopyReport;
let files: AnonymizedFilestoreReport;
let updReport: AnonymizeReport;
let updFiles: AnonymizedFilestoreReport & { removed: number };
const log = memoryLog();
/** sha1 of the source's business files (partner files, the image, the PDF). */
const businessShas: string[] = [];
let assetSha = "";
const userEmail = "Jane.Doe@ClientMail.example.org";
const LINKED = `ab${"0".repeat(38)}`;

/** Test-local rules (the shipped defaults belong to another slice and may change). */
const rules: AnonymizeRules = AnonymizeRulesSchema.parse({
  version: 1,
  tables: {
    res_partner: {
      columns: {
        name: { fake: "name" },
        complete_name: { fake: "name" },
        email: { fake: "email" },
        email_normalized: { fake: "email" },
        phone: { fake: "phone" },
        mobile: { fake: "phone" },
        street: { fake: "street" },
        city: { fake: "city" },
        zip: { fake: "zip" },
        vat: { fake: "vat" },
        comment: { fake: "text" },
      },
    },
    res_company: { columns: { email: { fake: "email" }, phone: { fake: "phone" } } },
    res_users: { columns: { login: { fake: "login" }, password: { devPassword: true } } },
    mail_message: { columns: { body: { fake: "html" }, subject: { fake: "text" }, email_from: { fake: "email" } } },
    ir_attachment: { columns: { name: { template: "attachment-{id}" } } },
    ir_mail_server: { columns: { smtp_pass: { fake: "secret" } } },
  },
});

function login(db: string, role: string) {
  return { host: pg.host, port: pg.port, user: role, password: `pw-${role}`, database: db };
}

function source() {
  return { host: pg.host, port: pg.port, user: fx.owner, password: fx.ownerPassword };
}

/** Adds a stored file to the source's filestore and its ir_attachment row. */
async function addFile(
  sql: SQL,
  data: Buffer,
  row: { name: string; res_model: string; res_field?: string; res_id: number; mimetype: string },
): Promise<string> {
  const sha = sha1(data);
  mkdirSync(join(fx.filestoreDir, sha.slice(0, 2)), { recursive: true });
  writeFileSync(join(fx.filestoreDir, sha.slice(0, 2), sha), data);
  await sql`INSERT INTO ir_attachment (name, res_model, res_field, res_id, type, store_fname, checksum, file_size, mimetype)
            VALUES (${row.name}, ${row.res_model}, ${row.res_field ?? null}, ${row.res_id}, 'binary', ${`${sha.slice(0, 2)}/${sha}`}, ${sha}, ${data.length}, ${row.mimetype})`;
  return sha;
}

/** Bytes of every relation file (heap, TOAST, indexes) of `db`, after a CHECKPOINT. */
async function relationBytes(db: string): Promise<Buffer> {
  await admin`CHECKPOINT`;
  const c = pgConnect({ ...conn, database: db });
  try {
    const rows = await c<
      { p: string }[]
    >`SELECT pg_relation_filepath(oid) AS p FROM pg_class WHERE pg_relation_filepath(oid) IS NOT NULL AND relnamespace = 'public'::regnamespace
      UNION SELECT pg_relation_filepath(reltoastrelid) FROM pg_class WHERE reltoastrelid <> 0 AND relnamespace = 'public'::regnamespace
      UNION SELECT pg_relation_filepath(indexrelid) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid WHERE t.reltoastrelid <> 0 AND i.indrelid = t.reltoastrelid`;
    const parts: Buffer[] = [];
    for (const { p } of rows) {
      for (let seg = 0; ; seg++) {
        const f = join(pg.dataDir, seg === 0 ? p : `${p}.${seg}`);
        if (!existsSync(f)) break;
        parts.push(readFileSync(f));
      }
    }
    expect(parts.length).toBeGreaterThan(10);
    return Buffer.concat(parts);
  } finally {
    await c.close();
  }
}

function sourceValuesIn(bytes: Buffer): string[] {
  return [...fx.emails, userEmail, ...fx.phones].filter((v) => bytes.includes(Buffer.from(v)));
}

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  conn = { host: pg.host, port: pg.port, user: pg.user, password: pg.password };
  admin = pgConnect(conn);
  root = makeTempDir("odooops-anoncopy-");
  fx = await createOdooDatabase(admin, conn, {
    db: "odoo_prod",
    partners: 120,
    filestoreDir: join(root, "fs", "odoo_prod"),
  });
  const src = pgConnect({ ...source(), database: fx.db });
  try {
    await src`INSERT INTO res_users (login, password, partner_id, active, company_id) VALUES (${userEmail}, 'x', 4, true, 1), (${userEmail.toLowerCase()}, 'x', 5, true, 1)`;
    await src`INSERT INTO res_partner (name, email) VALUES ('Jane', ${`  ${userEmail.toUpperCase()} `})`;
    const shas = await src<{ checksum: string }[]>`SELECT checksum FROM ir_attachment WHERE store_fname IS NOT NULL`;
    businessShas.push(...shas.map((r) => r.checksum));
    businessShas.push(
      await addFile(src, Buffer.from(`\x89PNG portrait of ${fx.emails[3]}`), {
        name: "image_1920",
        res_model: "res.partner",
        res_field: "image_1920",
        res_id: 5,
        mimetype: "image/png",
      }),
    );
    businessShas.push(
      await addFile(src, Buffer.from(`%PDF-1.4 invoice for ${fx.emails[4]} ${fx.phones[4]}`), {
        name: `invoice ${fx.emails[4]}.pdf`,
        res_model: "account.move",
        res_id: 9,
        mimetype: "application/pdf",
      }),
    );
    assetSha = await addFile(src, Buffer.from("body{color:red}"), {
      name: "web.assets_frontend.min.css",
      res_model: "ir.ui.view",
      res_id: 0,
      mimetype: "text/css",
    });
    // The tenant's own attacks on the host: a path out of the filestore, a link to a host file.
    await src`INSERT INTO ir_attachment (name, res_model, res_id, type, store_fname, checksum, file_size, mimetype)
              VALUES ('evil', 'ir.ui.view', 0, 'binary', '../../../../etc/passwd', 'x', 1, 'text/plain'), ('link', 'ir.ui.view', 0, 'binary', ${`ab/${LINKED}`}, ${LINKED}, 1, 'text/plain')`;
    mkdirSync(join(fx.filestoreDir, "ab"), { recursive: true });
    symlinkSync("/etc/hostname", join(fx.filestoreDir, "ab", LINKED));
    await src`INSERT INTO ir_attachment (name, res_model, res_id, type, db_datas, file_size, mimetype)
              VALUES ('notes.txt', 'res.partner', 7, 'binary', ${Buffer.from(`call ${fx.phones[6]} or mail ${fx.emails[6]}`)}, 60, 'text/plain')`;
  } finally {
    await src.close();
  }
  for (const r of ["odoo_anon", "odoo_ctl", "odoo_upd"]) await createRole(admin, r, `pw-${r}`);
  await createDatabase(admin, "odoo_anon", "odoo_anon");
  // The control: a plain streamed copy, then bare UPDATEs (what anonymizing used to be).
  await cloneDatabase({
    pg: conn,
    sourceLogin: source(),
    sourceDb: fx.db,
    targetDb: "odoo_ctl",
    owner: login("odoo_ctl", "odoo_ctl"),
    method: "stream",
    log: memoryLog(),
  });
  const ctl = pgConnect({ ...conn, database: "odoo_ctl" });
  try {
    await ctl`UPDATE res_partner SET email = 'p-' || id || '@example.invalid', phone = NULL, mobile = NULL, comment = NULL`;
    await ctl`UPDATE res_company SET email = NULL, phone = NULL`;
    await ctl`UPDATE res_users SET login = 'user-' || id WHERE login LIKE '%@%'`;
    await ctl`UPDATE mail_message SET body = '', email_from = NULL`;
    await ctl`UPDATE ir_attachment SET db_datas = NULL`;
  } finally {
    await ctl.close();
  }
  await cloneDatabase({
    pg: conn,
    sourceLogin: source(),
    sourceDb: fx.db,
    targetDb: "odoo_upd",
    owner: login("odoo_upd", "odoo_upd"),
    method: "stream",
    log: memoryLog(),
  });
  updReport = await anonymizeDatabase(login("odoo_upd", "odoo_upd"), rules, memoryLog(), "dev-pw");
  mkdirSync(join(root, "fs-upd"));
  await copyFilestore(fx.filestoreDir, join(root, "fs-upd", "odoo_upd"));
  updFiles = await anonymizeFilestoreInPlace({
    target: login("odoo_upd", "odoo_upd"),
    dir: join(root, "fs-upd", "odoo_upd"),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
  });
  report = await copyAnonymized({
    sourceLogin: source(),
    sourceDb: fx.db,
    targetDb: "odoo_anon",
    owner: login("odoo_anon", "odoo_anon"),
    rules,
    devPassword: "dev-pw",
    log,
  });
  mkdirSync(join(root, "fs-anon"));
  files = await writeAnonymizedFilestore({
    target: login("odoo_anon", "odoo_anon"),
    sourceDir: fx.filestoreDir,
    targetDir: join(root, "fs-anon", "odoo_anon"),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
  });
}, SLOW);

afterAll(async () => {
  await admin?.close();
  await pg?.stop();
  if (root) removeTempDir(root);
}, SLOW);

describe("anonymizing copy", () => {
  test("reports per table rows and changed columns; rules for missing columns are listed", () => {
    const partner = report.tables.find((t) => t.table === "res_partner");
    expect(partner?.rows).toBe(fx.partners + 1);
    expect(partner?.columns).toContain("email");
    expect(report.tables.find((t) => t.table === "ir_attachment")?.rows).toBe(fx.filestoreFiles + 6);
    expect(report.skipped).toContain("res_partner.email_normalized");
    expect(log.lines.some((l) => l.includes("table copied anonymized") && l.includes('"table":"mail_message"'))).toBe(
      true,
    );
  });

  test("the copy's relation files on disk hold no source e-mail or phone; the UPDATE-afterwards control does", async () => {
    expect(sourceValuesIn(await relationBytes("odoo_anon"))).toEqual([]);
    // Updated in place: the old values are still in its pages and indexes.
    const leftovers = sourceValuesIn(await relationBytes("odoo_ctl"));
    expect(leftovers.length).toBeGreaterThan(fx.partners / 2);
  });

  test("anonymizeDatabase (restores: UPDATE, attachments' content too, then VACUUM FULL) leaves none on disk; its filestore pass keeps only what rows point at", async () => {
    expect(updReport.attachmentsReplaced).toBe(fx.filestoreFiles + 3);
    expect(sourceValuesIn(await relationBytes("odoo_upd"))).toEqual([]);
    expect(updFiles).toMatchObject({
      written: 3,
      copied: 1,
      replaced: fx.filestoreFiles + 3,
      removed: fx.filestoreFiles + 2,
    });
    const onDisk = Object.keys(filestoreChecksums(join(root, "fs-upd", "odoo_upd"))).map((p) => p.split("/")[1]);
    expect(onDisk.filter((s) => businessShas.includes(s ?? ""))).toEqual([]);
    expect(onDisk.sort()).toEqual(
      [assetSha, ...PLACEHOLDERS.filter((p) => ["avatar5", "pdf", "bin"].includes(p.key)).map((p) => p.sha1)].sort(),
    );
  });

  test("deterministic per copy: one address (any case, blanks) → one fake across tables; logins unique, 'admin' kept", async () => {
    const c = pgConnect({ ...conn, database: "odoo_anon" });
    try {
      const [co] = await c<
        { p: string; c: string }[]
      >`SELECT p.email AS p, c.email AS c FROM res_partner p JOIN res_company c ON c.partner_id = p.id`;
      expect(co?.p).toMatch(/^u[0-9a-f]{16}@example\.invalid$/);
      expect(co?.p).toBe(co?.c as string);
      const users = await c<
        { id: number; login: string; password: string }[]
      >`SELECT id, login, password FROM res_users ORDER BY id`;
      expect(users.map((u) => u.login)).toEqual([
        "__system__",
        "admin",
        "demo",
        "user-4@example.invalid",
        "user-5@example.invalid",
      ]);
      expect(users.every((u) => u.password.startsWith("$pbkdf2-sha512$"))).toBe(true);
      const [jane] = await c<
        { e: string }[]
      >`SELECT email AS e FROM res_partner WHERE name LIKE 'Person %' AND id = (SELECT max(id) FROM res_partner)`;
      const [src] = await c<{ n: number }[]>`SELECT count(*)::int AS n FROM res_partner WHERE email = ${jane?.e ?? ""}`;
      expect(src?.n).toBe(1);
      const [idx] = await c<
        { n: number }[]
      >`SELECT count(*)::int AS n FROM pg_indexes WHERE indexname IN ('res_partner_email_idx', 'res_users_login_key')`;
      expect(idx?.n).toBe(2);
      const [srv] = await c<{ p: string | null }[]>`SELECT smtp_pass AS p FROM ir_mail_server`;
      expect(srv?.p).toBeNull();
    } finally {
      await c.close();
    }
  });

  test("attachments: business content replaced by placeholders (consistent checksum/size/path), images generated, assets kept", async () => {
    const c = pgConnect({ ...conn, database: "odoo_anon" });
    try {
      const rows = await c<
        {
          name: string;
          res_model: string;
          store_fname: string | null;
          checksum: string | null;
          file_size: number;
          mimetype: string;
          db_datas: Buffer | null;
        }[]
      >`
        SELECT name, res_model, store_fname, checksum, file_size, mimetype, db_datas FROM ir_attachment ORDER BY id`;
      const dir = join(root, "fs-anon", "odoo_anon");
      const asset = rows.find((r) => r.res_model === "ir.ui.view");
      expect(asset?.name).toBe("web.assets_frontend.min.css");
      expect(asset?.checksum).toBe(assetSha);
      for (const r of rows) {
        if (r.store_fname && !files.skipped.includes(r.store_fname)) {
          const data = readFileSync(join(dir, r.store_fname));
          expect([r.name, sha1(data), data.length]).toEqual([r.name, r.checksum as string, r.file_size]);
        }
        if (r.res_model !== "ir.ui.view") expect(PLACEHOLDERS.map((p) => p.sha1)).toContain(r.checksum as string);
      }
      const image = rows.find((r) => r.mimetype === "image/png");
      expect(PLACEHOLDERS.find((p) => p.sha1 === image?.checksum)?.key).toBe("avatar5");
      expect(rows.find((r) => r.mimetype === "application/pdf")?.name).toMatch(/^attachment-\d+$/);
      expect(rows.find((r) => r.db_datas)?.db_datas?.toString()).toBe("anonymized\n");
      const onDisk = Object.keys(filestoreChecksums(dir)).map((p) => p.split("/")[1]);
      expect(onDisk.filter((s) => businessShas.includes(s ?? ""))).toEqual([]);
      expect(onDisk).toContain(assetSha);
      expect(files).toEqual({
        written: 3,
        copied: 1,
        replaced: fx.filestoreFiles + 3,
        skipped: ["../../../../etc/passwd", `ab/${LINKED}`],
      });
    } finally {
      await c.close();
    }
  });

  test("attacks through the filestore: a store_fname out of the directory and a linked file are skipped, nothing written outside", () => {
    const dir = join(root, "fs-anon", "odoo_anon");
    expect(existsSync(join(dir, "ab", LINKED))).toBe(false);
    expect(readdirSync(join(root, "fs-anon"))).toEqual(["odoo_anon"]);
    expect(lstatSync(join(fx.filestoreDir, "ab", LINKED)).isSymbolicLink()).toBe(true);
    expect(Object.keys(filestoreChecksums(dir)).every((p) => /^[0-9a-f]{2}\/[0-9a-f]{40}$/.test(p))).toBe(true);
  });
});
