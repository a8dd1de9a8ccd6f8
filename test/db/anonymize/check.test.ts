/**
 * The PII check against real PostgreSQL: needles read from the source as its own role (from
 * every place Odoo keeps addresses, not only res_partner), then one evasion per test planted in
 * an otherwise clean copy — each must fail the check, naming where; the clean copy passes and the
 * log says what was scanned. Also: unreadable tables, and the state checks after neutralizing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkCopyState, checkPii, collectNeedles } from "../../../src/db/anonymize/check";
import { scanCopy } from "../../../src/db/anonymize/check-db";
import { GarbageBound } from "../../../src/db/anonymize/garbage-bound";
import { FILE_CHUNK } from "../../../src/db/anonymize/check-files";
import { BYTEA_SLICE, collectPii, type PiiNeedles } from "../../../src/db/backup/pii";
import { Invalid } from "../../../src/errors";
import { pgConnect, withTenant, type TenantLogin } from "../../../src/host/postgres";
import { createDatabase, createRole } from "../../../src/host/postgres/ops";
import { startPostgres, type TestPostgres } from "../../support/postgres";
import { makeTempDir, removeTempDir } from "../../support/tmp";
import { memoryLog } from "../quiet-log";

let pg: TestPostgres;
let admin: SQL;
let root: string;
let fsDir: string;
let needles: PiiNeedles;
const src = { user: "pii_src", password: "pw-pii-src-secret", database: "pii_src" };
const cp = { user: "pii_copy", password: "pw-pii-copy-secret", database: "pii_copy" };

const EMAIL = "ann.lee@client.example.org";
const EMPLOYEE_EMAIL = "private.bob@home.example.net";
const PHONE = "+32 470 12 34 56";
const UUID = "6f1c9a52-1111-2222-3333-444455556666";
const HASH = "$pbkdf2-sha512$25000$c2FsdA$source-hash";

function login(who: typeof src): TenantLogin {
  return { host: pg.host, port: pg.port, ...who };
}

async function asRole<T>(who: typeof src, fn: (sql: SQL) => Promise<T>): Promise<T> {
  const sql = pgConnect({ host: pg.host, port: pg.port, ...who });
  try {
    return await fn(sql);
  } finally {
    await sql.close();
  }
}

const SCHEMA = `
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, email varchar, phone varchar, mobile varchar);
CREATE TABLE res_users (id serial PRIMARY KEY, login varchar NOT NULL, password varchar);
CREATE TABLE hr_employee (id serial PRIMARY KEY, name varchar, private_email varchar, private_phone varchar);
CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, value text NOT NULL);
CREATE TABLE ir_cron (id serial PRIMARY KEY, cron_name varchar, active boolean);
CREATE TABLE ir_mail_server (id serial PRIMARY KEY, name varchar, smtp_host varchar, smtp_user varchar, smtp_pass varchar, active boolean);
CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar, index_content text, db_datas bytea);
`;

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  admin = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
  root = makeTempDir("odooops-pii-check-");
  fsDir = join(root, "filestore");
  mkdirSync(fsDir);
  for (const who of [src, cp]) {
    await createRole(admin, who.user, who.password);
    await createDatabase(admin, who.database, who.user);
    await asRole(who, (sql) => sql.unsafe(SCHEMA).then(() => undefined));
  }
  await asRole(src, async (sql) => {
    await sql`INSERT INTO res_partner (name, email, phone, mobile) VALUES ('Ann Lee', ${`"Ann Lee" <${EMAIL.toUpperCase()}>`}, ${PHONE}, NULL)`;
    await sql`INSERT INTO res_users (login, password) VALUES (${EMAIL}, ${HASH}), ('admin', ${HASH + "2"})`;
    await sql`INSERT INTO hr_employee (name, private_email, private_phone) VALUES ('Bob', ${EMPLOYEE_EMAIL}, '02 555 01 99')`;
    await sql`INSERT INTO ir_config_parameter (key, value) VALUES ('database.uuid', ${UUID}), ('database.secret', 'source-secret')`;
  });
  // The copy: anonymized data only, and the same shape.
  await asRole(cp, async (sql) => {
    await sql`INSERT INTO res_partner (name, email, phone) VALUES ('Partner 1', 'partner-1@example.invalid', NULL)`;
    await sql`INSERT INTO res_users (login, password) VALUES ('user-1@example.invalid', 'new-hash'), ('admin', 'new-hash')`;
    await sql`INSERT INTO ir_config_parameter (key, value) VALUES ('database.uuid', 'copy-uuid'), ('database.secret', 'copy-secret')`;
    await sql`INSERT INTO ir_cron (cron_name, active) VALUES ('x', false)`;
    await sql`INSERT INTO ir_mail_server (name, smtp_host, active) VALUES ('neutralization - disable emails', 'invalid', true), ('Real', 'smtp.example.com', false)`;
    await sql`INSERT INTO ir_attachment (name, index_content, db_datas) VALUES ('logo.png', 'nothing here 2024-01-01', ${Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3])})`;
  });
  writeFileSync(join(fsDir, "clean.bin"), Buffer.from("no personal data, invoice 12/2024, total 1 234 567.00"));
  needles = await withTenant(login(src), collectPii);
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await pg?.stop();
  if (root) removeTempDir(root);
}, 120_000);

/** Each evasion is planted in its own objects and removed after its test. */
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function plant(ddl: string, drop: string, fill?: (sql: SQL) => Promise<unknown>): Promise<void> {
  cleanup.push(() => asRole(cp, (sql) => sql.unsafe(drop).then(() => undefined)));
  await asRole(cp, async (sql) => {
    await sql.unsafe(ddl);
    if (fill) await fill(sql);
  });
}

function plantFile(rel: string, data: Buffer | string): void {
  const path = join(fsDir, rel);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, data);
  cleanup.push(async () => rmSync(path));
}

async function check(exclude: string[] = []): Promise<{ error: Invalid | null; log: string[] }> {
  const log = memoryLog();
  const error = await withTenant(login(cp), (sql) =>
    checkPii(sql, login(cp), needles, { exclude, filestoreDir: fsDir }, log),
  ).then(
    () => null,
    (e: unknown) => e,
  );
  if (error !== null && !(error instanceof Invalid)) throw error;
  return { error, log: log.lines };
}

async function fails(where: string): Promise<void> {
  const { error } = await check();
  expect(error?.message).toStartWith("PII check failed: source data remains after anonymizing in ");
  expect(error?.message).toContain(where);
  expect(error?.message).not.toContain(EMAIL);
}

describe("needles", () => {
  test("come from every place the source keeps them, as the source's role", () => {
    expect(needles.emails).toEqual([EMAIL, EMPLOYEE_EMAIL].sort());
    expect(needles.phones).toEqual(["025550199", "32470123456"]);
    expect(needles.identity).toEqual({ uuid: UUID, secret: "source-secret" });
    expect(needles.passwordHashes.sort()).toEqual([HASH, HASH + "2"].sort());
    expect(needles.sources).toEqual([
      "res_partner.email",
      "res_partner.phone",
      "res_partner.mobile",
      "res_users.login",
      "hr_employee.private_email",
      "hr_employee.private_phone",
    ]);
  });
});

describe("needles matched as they are read (collectNeedles, what a clone uses)", () => {
  test("the same values, identity and hashes as collectPii; the same check results", async () => {
    const { needles: packed, state } = await withTenant(login(src), collectNeedles);
    expect([packed.emails, packed.phones]).toEqual([needles.emails.length, needles.phones.length]);
    expect(packed.sources).toEqual(needles.sources);
    // DISTINCT gives the hashes in no set order.
    expect({ ...state, passwordHashes: [...state.passwordHashes].sort() }).toEqual({
      identity: needles.identity,
      passwordHashes: [...needles.passwordHashes].sort(),
      sources: needles.sources,
    });
    for (const v of needles.emails) {
      const f = { emails: new Set<string>(), phones: new Set<string>() };
      packed.matcher.scan(`to: ${v.toUpperCase()}`, f);
      expect([...f.emails]).toEqual([v]);
    }
    // A clean copy passes with either; a planted value fails both, named the same way.
    const run = (n: typeof needles | typeof packed) =>
      withTenant(login(cp), (sql) =>
        checkPii(sql, login(cp), n, { exclude: [], filestoreDir: fsDir }, memoryLog()),
      ).then(
        () => "passed",
        (e: unknown) => (e instanceof Invalid ? e.message : String(e)),
      );
    expect(await run(packed)).toBe("passed");
    await plant(
      "CREATE TABLE x_both (v text)",
      "DROP TABLE x_both",
      (sql) => sql`INSERT INTO x_both VALUES (${`${EMPLOYEE_EMAIL} 02 555 01 99`})`,
    );
    const failed = await run(packed);
    expect(failed).toContain("x_both.v: 1 email (e.g. pri***); x_both.v: 1 phone (e.g. 255***)");
    expect(await run(needles)).toBe(failed);
  }, 60_000);

  test("the scan's full collections are bounded by the bytes it reads", async () => {
    let collections = 0;
    const { needles: packed } = await withTenant(login(src), collectNeedles);
    const { stats } = await scanCopy(login(cp), packed.matcher, {
      bound: new GarbageBound(64, () => collections++),
    });
    // The copy holds a few hundred bytes of text: a few collections, never more than bytes / 64.
    expect(collections).toBeGreaterThan(0);
    expect(collections).toBeLessThanOrEqual(Math.floor(stats.bytes / 64));
  }, 60_000);
});

describe("the clean copy", () => {
  test("passes, and the log says what was scanned", async () => {
    const { error, log } = await check();
    expect(error).toBeNull();
    const line = log.find((l) => l.startsWith("info PII check passed"));
    const fields = JSON.parse(line?.slice("info PII check passed ".length) ?? "{}") as Record<string, unknown>;
    // 7 tables; 1 + 2 + 0 + 2 + 1 + 2 + 1 rows; 4 + 2 + 3 + 2 + 1 + 4 + 3 text-like columns.
    expect(fields).toMatchObject({ tables: 7, rows: 9, columns: 19, files: 1, emails: 2, phones: 2 });
    expect(Number(fields.bytes)).toBeGreaterThan(100);
    expect(fields.fileBytes).toBe(53);
  }, 60_000);
});

describe("the check itself", () => {
  test("leaves nothing of the source on the copy's disk (no statistics of its needles in pg_statistic)", async () => {
    expect((await check()).error).toBeNull();
    const sql = pgConnect({
      host: pg.host,
      port: pg.port,
      user: pg.user,
      password: pg.password,
      database: cp.database,
    });
    try {
      await sql`CHECKPOINT`;
      const [row] = await sql<{ path: string }[]>`SELECT pg_relation_filepath('pg_catalog.pg_statistic') AS path`;
      const bytes = readFileSync(join(pg.dataDir, row!.path)).toString("latin1");
      expect(bytes.includes(EMAIL)).toBe(false);
      expect(bytes.includes("32470123456")).toBe(false);
    } finally {
      await sql.close();
    }
  }, 60_000);
});

describe("each evasion is caught", () => {
  test("bytea: an address in binary data, and one straddling a 4 MiB slice boundary", async () => {
    await plant("CREATE TABLE x_blob (id serial PRIMARY KEY, data bytea)", "DROP TABLE x_blob", async (sql) => {
      const big = Buffer.alloc(BYTEA_SLICE + 1000, 0xff);
      big.write(EMPLOYEE_EMAIL, BYTEA_SLICE - 10, "latin1");
      await sql`INSERT INTO x_blob (data) VALUES (${big})`;
    });
    await fails("x_blob.data: 1 email (e.g. pri***)");
    await asRole(
      cp,
      (sql) =>
        sql`UPDATE ir_attachment SET db_datas = ${Buffer.concat([Buffer.from([0, 1, 0xfe]), Buffer.from(`to:${EMAIL}\0`), Buffer.from([0xc3, 0xa9])])}`,
    );
    cleanup.push(() =>
      asRole(cp, (sql) => sql`UPDATE ir_attachment SET db_datas = '\\x00'::bytea`.then(() => undefined)),
    );
    await fails("ir_attachment.db_datas: 1 email (e.g. ann***)");
  }, 60_000);

  test("bytea: UTF-16 text (NULs between the characters)", async () => {
    await plant(
      "CREATE TABLE x_doc (data bytea)",
      "DROP TABLE x_doc",
      (sql) => sql`INSERT INTO x_doc VALUES (${Buffer.from(`mail ${EMAIL}`, "utf16le")})`,
    );
    await fails("x_doc.data: 1 email");
  }, 60_000);

  test("jsonb, nested", async () => {
    await plant(
      "CREATE TABLE x_json (v jsonb)",
      "DROP TABLE x_json",
      (sql) => sql`INSERT INTO x_json VALUES (${JSON.stringify({ a: [{ contact: EMAIL.toUpperCase() }] })}::jsonb)`,
    );
    await fails("x_json.v: 1 email");
  }, 60_000);

  test("an array of text", async () => {
    await plant(
      "CREATE TABLE x_arr (v text[])",
      "DROP TABLE x_arr",
      (sql) => sql`INSERT INTO x_arr VALUES (ARRAY['a', ${`cc ${EMPLOYEE_EMAIL}`}])`,
    );
    await fails("x_arr.v: 1 email");
  }, 60_000);

  test("HTML entities in a message body", async () => {
    await plant(
      "CREATE TABLE x_html (body text)",
      "DROP TABLE x_html",
      (sql) => sql`INSERT INTO x_html VALUES ('<a href="mailto:ann.lee&#64;client&#46;example.org">write</a>')`,
    );
    await fails("x_html.body: 1 email");
  }, 60_000);

  test("%40 in a URL, in a varchar", async () => {
    await plant(
      "CREATE TABLE x_url (url varchar(200))",
      "DROP TABLE x_url",
      (sql) => sql`INSERT INTO x_url VALUES ('https://t.example/?to=private.bob%40home.example.net')`,
    );
    await fails("x_url.url: 1 email");
  }, 60_000);

  test("a phone formatted differently, in a char column and a domain over text", async () => {
    await plant(
      "CREATE DOMAIN x_phone_t AS text; CREATE TABLE x_phone (a char(30), b x_phone_t)",
      "DROP TABLE x_phone; DROP DOMAIN x_phone_t",
      (sql) => sql`INSERT INTO x_phone VALUES ('tel 0470/12.34.56', '(02) 555-0199')`,
    );
    await fails("x_phone.a: 1 phone (e.g. 701***)");
    await fails("x_phone.b: 1 phone (e.g. 255***)");
  }, 60_000);

  test("the row scan: halves of a value in two columns are no finding; a finding is named in its own column", async () => {
    // The row scan joins a row's values with newlines (pii.ts rowScanSql): no match may span two.
    await plant(
      "CREATE TABLE x_row (a text, b varchar, c text, d jsonb, e text)",
      "DROP TABLE x_row",
      (sql) => sql`INSERT INTO x_row VALUES ('+32 470 12', '34 56', 'ann.lee', '"@client.example.org"', NULL)`,
    );
    expect((await check()).error).toBeNull();
    await asRole(cp, (sql) => sql`INSERT INTO x_row VALUES (NULL, 'x', NULL, ${{ k: `mailto:${EMAIL}` }}, 'y')`);
    const { error } = await check();
    expect(error?.message).toContain("x_row.d: 1 email (e.g. ann***)");
    for (const col of ["a", "b", "c", "e"]) expect(error?.message).not.toContain(`x_row.${col}:`);
  }, 60_000);

  test("a table in a second schema", async () => {
    await plant(
      "CREATE SCHEMA crm2; CREATE TABLE crm2.notes (body text)",
      "DROP SCHEMA crm2 CASCADE",
      (sql) => sql`INSERT INTO crm2.notes VALUES (${`call ${PHONE}`})`,
    );
    await fails("crm2.notes.body: 1 phone");
  }, 60_000);

  test("a file name in the filestore", async () => {
    plantFile("ab/invoice_ann.lee@client.example.org.pdf", "%PDF-1.4\n%%EOF\n");
    await fails("filestore (file names): 1 email (e.g. ann***; in ab/invoi***)");
  }, 60_000);

  test("file contents: an address straddling a chunk boundary, a phone in UTF-16", async () => {
    const data = Buffer.alloc(FILE_CHUNK * 2, 0x20);
    data.write(EMAIL, FILE_CHUNK - 8, "latin1");
    plantFile("cd/cdef", data);
    await fails("filestore (file contents): 1 email (e.g. ann***; in cd/cdef***)");
    rmSync(join(fsDir, "cd/cdef"));
    cleanup.pop();
    plantFile("ef/efef", Buffer.from(`tel: ${PHONE}`, "utf16le"));
    await fails("filestore (file contents): 1 phone (e.g. 701***; in ef/efef***)");
  }, 60_000);

  test("a large object (bytes outside every table)", async () => {
    const [lo] = await asRole(
      cp,
      (sql) => sql<{ oid: number }[]>`SELECT lo_from_bytea(0, ${Buffer.from(EMAIL)})::int AS oid`,
    );
    cleanup.push(() => asRole(cp, (sql) => sql`SELECT lo_unlink(${lo!.oid})`.then(() => undefined)));
    await fails("pg_largeobject: 1 large object (not scanned: drop them)");
  }, 60_000);

  test("a column excluded knowingly is not read; nothing else is skipped", async () => {
    await plant(
      "CREATE TABLE x_kept (note text, other text)",
      "DROP TABLE x_kept",
      (sql) => sql`INSERT INTO x_kept VALUES (${EMAIL}, 'x')`,
    );
    expect((await check(["x_kept.note"])).error).toBeNull();
    expect((await check(["x_kept.other"])).error?.message).toContain("x_kept.note: 1 email");
  }, 60_000);

  test("a table the copy's role cannot read fails the check, naming it", async () => {
    const sql = pgConnect({
      host: pg.host,
      port: pg.port,
      user: pg.user,
      password: pg.password,
      database: cp.database,
    });
    try {
      await sql.unsafe("CREATE TABLE public.x_hidden (v text)");
    } finally {
      await sql.close();
    }
    cleanup.push(async () => {
      const s = pgConnect({
        host: pg.host,
        port: pg.port,
        user: pg.user,
        password: pg.password,
        database: cp.database,
      });
      await s.unsafe("DROP TABLE public.x_hidden").finally(() => s.close());
    });
    const { error } = await check();
    expect(error?.message).toBe(
      "PII check cannot read x_hidden as the environment's role; drop those tables or give them to the role",
    );
  }, 60_000);
});

describe("state after neutralizing", () => {
  const state = async () =>
    withTenant(login(cp), (sql) =>
      checkCopyState(sql, needles, { neutralized: true, rebased: true }, memoryLog()),
    ).then(
      () => null,
      (e: unknown) => (e as Error).message,
    );

  test("the neutralized copy passes: Odoo's dummy mail server on host invalid is neutral", async () => {
    expect(await state()).toBeNull();
  }, 60_000);

  test("an active cron, a real mail server, the source's identity and password hash each fail it", async () => {
    await asRole(cp, async (sql) => {
      await sql`UPDATE ir_cron SET active = true`;
      await sql`UPDATE ir_mail_server SET active = true`;
      await sql`UPDATE ir_config_parameter SET value = ${UUID} WHERE key = 'database.uuid'`;
      await sql`UPDATE res_users SET password = ${HASH} WHERE login = 'admin'`;
    });
    cleanup.push(() =>
      asRole(cp, async (sql) => {
        await sql`UPDATE ir_cron SET active = false`;
        await sql`UPDATE ir_mail_server SET active = (smtp_host = 'invalid')`;
        await sql`UPDATE ir_config_parameter SET value = 'copy-uuid' WHERE key = 'database.uuid'`;
        await sql`UPDATE res_users SET password = 'new-hash'`;
      }),
    );
    expect(await state()).toBe(
      "copy check failed: ir_cron: 1 active; ir_mail_server: 1 active; ir_config_parameter: database.uuid is the source's; res_users.password: 1 of the source's password hashes",
    );
  }, 60_000);

  test("credentials on the dummy host make it a real server", async () => {
    await asRole(
      cp,
      (sql) => sql`UPDATE ir_mail_server SET smtp_user = 'u', smtp_pass = 'p' WHERE smtp_host = 'invalid'`,
    );
    cleanup.push(() =>
      asRole(cp, (sql) => sql`UPDATE ir_mail_server SET smtp_user = NULL, smtp_pass = NULL`.then(() => undefined)),
    );
    expect(await state()).toBe("copy check failed: ir_mail_server: 1 active");
  }, 60_000);
});
