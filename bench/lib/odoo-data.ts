/**
 * Grows an Odoo-shaped database to a given size, for the backup/restore/clone benchmarks
 * (bench/db-ops.ts) and the streaming test (test/db/streaming.test.ts).
 *
 * The database must already have the stand-in's base schema (an env's database after
 * `env create`, or test/db/odoo-fixture.ts's createOdooDatabase): the bulk goes into the tables
 * that dominate real Odoo databases — mail_message (HTML bodies), res_partner, an
 * account_move_line shaped like Odoo's (numerics, dates, many indexes), and ir_attachment rows
 * pointing at a filestore of real files. Rows are made server-side with `generate_series` in
 * batches of ~`BATCH_MB`, all objects owned by `owner` (SET LOCAL ROLE), and the loop stops as
 * soon as `pg_database_size` reaches the target (bounded by MAX_BATCHES). Then VACUUM (FREEZE,
 * ANALYZE): hint bits and the visibility map are set once here, so the first measured pg_dump
 * does not pay for rewriting every page while later ones do not.
 *
 * Compressibility is meant to be realistic: template sentences, names and addresses (very
 * compressible) mixed with md5 tokens (hex: about half compressible) and random numerics. The
 * filestore mixes text-like files and random "images" (incompressible), as real ones do.
 */
import type { SQL } from "bun";
import { createHash, randomBytes } from "node:crypto";
import { chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pgConnect, type PgTarget } from "../../src/host/postgres/connect";
import { assertIdent, quoteIdent } from "../../src/host/postgres/quote";

/** Rows per full batch: together ≈ 70 MB of heap + indexes with the shapes below. */
const BATCH = { partners: 15_000, messages: 30_000, moveLines: 120_000 };
const MAX_BATCHES = 2_000;
const MiB = 1024 * 1024;

export interface GenerateOptions {
  /** Admin (superuser) connection; `db` is the database to grow. */
  pg: Omit<PgTarget, "database">;
  db: string;
  /** Role that owns the env's objects (new tables are created as it). */
  owner: string;
  /** Stop once pg_database_size ≥ this. */
  targetBytes: number;
  /** `<data dir>/filestore/<db>`; files are added beside whatever is there. */
  filestoreDir: string;
  /** Bytes of files to ADD (a second call grows the filestore further). */
  filestoreBytes: number;
  /** chown for the filestore (Odoo containers run as uid 101). */
  filestoreOwner?: { uid: number; gid: number };
  /** Progress lines (stderr in the bench, nothing in tests). */
  log?: (line: string) => void;
}

export interface GenerateResult {
  dbBytes: number;
  batches: number;
  rows: Record<string, number>;
  filestoreFiles: number;
  filestoreBytes: number;
  seconds: number;
}

// mail_message as the stand-in's `mail` module creates it, for databases with only `base`.
const BULK_TABLES = `
CREATE TABLE IF NOT EXISTS mail_message (
  id serial PRIMARY KEY, subject varchar, body text, author_id integer REFERENCES res_partner(id),
  email_from varchar, model varchar, res_id integer, message_type varchar DEFAULT 'comment',
  record_name varchar, create_uid integer, create_date timestamp DEFAULT (now() at time zone 'UTC'),
  write_date timestamp DEFAULT (now() at time zone 'UTC'));
CREATE INDEX IF NOT EXISTS mail_message_model_res_id_idx ON mail_message (model, res_id);
CREATE TABLE IF NOT EXISTS account_move_line (
  id serial PRIMARY KEY, move_id integer NOT NULL, move_name varchar, date date NOT NULL, ref varchar,
  parent_state varchar, journal_id integer, company_id integer, company_currency_id integer, currency_id integer,
  account_id integer, partner_id integer, product_id integer, name varchar, quantity numeric, price_unit numeric,
  discount numeric, debit numeric, credit numeric, balance numeric, amount_currency numeric,
  amount_residual numeric, tax_base_amount numeric, reconciled boolean, display_type varchar,
  create_uid integer, create_date timestamp, write_uid integer, write_date timestamp);
CREATE INDEX IF NOT EXISTS account_move_line_move_id_index ON account_move_line (move_id);
CREATE INDEX IF NOT EXISTS account_move_line_account_id_index ON account_move_line (account_id);
CREATE INDEX IF NOT EXISTS account_move_line_date_index ON account_move_line (date);
CREATE INDEX IF NOT EXISTS account_move_line_partner_id_index ON account_move_line (partner_id);
CREATE INDEX IF NOT EXISTS mail_message_author_id_index ON mail_message (author_id);
CREATE INDEX IF NOT EXISTS res_partner_email_index ON res_partner (email);
CREATE INDEX IF NOT EXISTS res_partner_company_id_index ON res_partner (company_id);
`;

// Columns common to the stand-in's schema and test/db/odoo-fixture.ts's.
const PARTNERS = `
INSERT INTO res_partner (name, complete_name, company_id, email, phone, mobile, street, street2, zip, city, vat, comment, is_company, active, create_date, write_date)
SELECT 'Partner ' || g, (ARRAY['Azure Interior','Deco Addict','Gemini Furniture','Ready Mat','Wood Corner'])[1 + g % 5] || ', Partner ' || g, 1,
  'partner' || g || '.' || substr(md5(g::text), 1, 6) || (ARRAY['@example.com','@mail.example.org','@corp.example.net'])[1 + g % 3],
  '+32 2 ' || lpad((g * 7 % 1000000)::text, 6, '0'), '+32 47' || lpad(g::text, 7, '0'),
  (g % 500) || ' ' || (ARRAY['Rue de la Loi','Avenue Louise','Main Street','Bahnhofstrasse','Calle Mayor','Via Roma'])[1 + g % 6],
  CASE WHEN g % 4 = 0 THEN 'Building ' || chr(65 + g % 26) END, lpad((1000 + g % 9000)::text, 4, '0'),
  (ARRAY['Brussels','Antwerp','Ghent','Paris','Berlin','Madrid','Rome','Amsterdam'])[1 + g % 8],
  CASE WHEN g % 3 = 0 THEN 'BE0' || (400000000 + g) END,
  CASE WHEN g % 5 = 0 THEN 'Customer since ' || (2010 + g % 14) || '. Ref ' || md5(random()::text) END,
  g % 10 = 0, g % 50 <> 0,
  timestamp '2019-01-01' + (g % 1800) * interval '1 day' + (random() * 86400) * interval '1 second',
  timestamp '2024-01-01' + (random() * 300) * interval '1 day'
FROM generate_series($1::int, $2::int) g`;

// Bodies: 1–12 paragraphs of template sentences with an md5 token each (≈ 0.1–1.8 KB).
const MESSAGES = `
INSERT INTO mail_message (subject, body, author_id, email_from, model, res_id, message_type, create_date)
SELECT CASE WHEN g % 3 = 0 THEN 'Re: Order S' || lpad((g % 100000)::text, 5, '0') END,
  '<div>' || (SELECT string_agg('<p>' || (ARRAY[
      'Hello, please find attached the quotation for your order.',
      'Thank you for your payment. The invoice is now marked as paid.',
      'Could you confirm the delivery address and the expected date?',
      'The product is back in stock; we will ship it this week.',
      'Reminder: this invoice is overdue. Please proceed with the payment.',
      'Meeting moved to Thursday at 10:00, see the updated agenda below.',
      'Stage changed from <b>New</b> to <b>Qualified</b> by the salesperson.',
      'Your ticket has been assigned to our support team.'])[1 + floor(random() * 8)::int] ||
      ' <span>' || md5(random()::text) || '</span></p>', '') FROM generate_series(1, 1 + (g * 7) % 12) s) || '</div>',
  1 + g % $3::int,
  '"Partner ' || (1 + g % $3::int) || '" <partner' || (1 + g % $3::int) || '@example.com>',
  (ARRAY['res.partner','sale.order','account.move','crm.lead','helpdesk.ticket'])[1 + g % 5], 1 + g % 50000,
  (ARRAY['comment','email','notification'])[1 + g % 3],
  timestamp '2019-01-01' + (random() * 1800) * interval '1 day'
FROM generate_series($1::int, $2::int) g`;

const MOVE_LINES = `
INSERT INTO account_move_line (move_id, move_name, date, ref, parent_state, journal_id, company_id, company_currency_id, currency_id,
  account_id, partner_id, product_id, name, quantity, price_unit, discount, debit, credit, balance, amount_currency,
  amount_residual, tax_base_amount, reconciled, display_type, create_uid, create_date, write_uid, write_date)
SELECT g / 4, 'INV/' || (2019 + g % 6) || '/' || lpad((g / 4 % 100000)::text, 5, '0'), date '2019-01-01' + (g / 4 % 2000),
  CASE WHEN g % 7 = 0 THEN 'PO' || (g % 99991) END, 'posted', 1 + g % 6, 1, 1, 1,
  (ARRAY[400000, 411000, 440000, 451000, 600000, 701000, 705000])[1 + g % 7], 1 + (g / 4) % $3::int, 1 + g % 900,
  -- 'ref' glued to the hex: an all-digit token would read as a phone number (≈ 2 % of them are).
  (ARRAY['[FURN_0001] Desk','[FURN_0269] Office Chair','Consulting hours','Shipping','Tax 21%','[E-COM11] Cabinet'])[1 + g % 6] || ' ref' || substr(md5(g::text), 1, 8),
  q, round((random() * 900 + 5)::numeric, 2) AS price, CASE WHEN g % 9 = 0 THEN 10 ELSE 0 END,
  CASE WHEN g % 2 = 0 THEN round((q * random() * 900)::numeric, 2) ELSE 0 END,
  CASE WHEN g % 2 = 1 THEN round((q * random() * 900)::numeric, 2) ELSE 0 END,
  round(((random() - 0.5) * 2000)::numeric, 2), round(((random() - 0.5) * 2000)::numeric, 2),
  CASE WHEN g % 3 = 0 THEN 0 ELSE round((random() * 500)::numeric, 2) END, round((random() * 1000)::numeric, 2),
  g % 3 = 0, CASE WHEN g % 4 = 3 THEN 'tax' ELSE 'product' END, 2,
  timestamp '2019-01-01' + (g / 4 % 2000) * interval '1 day', 2, timestamp '2024-01-01' + (random() * 300) * interval '1 day'
FROM generate_series($1::int, $2::int) g, LATERAL (SELECT (1 + g % 20)::numeric AS q) x`;

async function asOwner(sql: SQL, owner: string, body: (tx: SQL) => Promise<void>): Promise<void> {
  await sql.begin(async (tx) => {
    // Objects and rows as the env's role: what Odoo itself would have created.
    await tx.unsafe(`SET LOCAL ROLE ${quoteIdent(owner, "role")}`);
    await body(tx);
  });
}

async function dbSize(sql: SQL, db: string): Promise<number> {
  const [row] = await sql<{ n: string }[]>`SELECT pg_database_size(${db})::text AS n`;
  return Number(row?.n ?? 0);
}

async function maxId(sql: SQL, table: string): Promise<number> {
  const [row] = (await sql.unsafe(`SELECT coalesce(max(id), 0)::int AS n FROM ${quoteIdent(table, "table")}`)) as {
    n: number;
  }[];
  return row?.n ?? 0;
}

/** One filestore file: text-like (invoices, CSV exports) or an incompressible "image". */
function fileContent(i: number, size: number): Buffer {
  if (i % 3 === 2) return randomBytes(size);
  const lines: string[] = [];
  let n = 0;
  while (n < size) {
    const line = `INV/2024/${String(i).padStart(5, "0")};${n};Office Chair;${(n % 97) + 1};${randomBytes(6).toString("hex")};EUR\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join("")).subarray(0, size);
}

async function addFilestore(sql: SQL, opts: GenerateOptions): Promise<{ files: number; bytes: number }> {
  let bytes = 0;
  let files = 0;
  const rows: { name: string; fname: string; sha1: string; size: number; mimetype: string }[] = [];
  // 16 KiB – 1 MiB files, as attachments (PDFs, images, CSVs) typically are.
  while (bytes < opts.filestoreBytes && files < 100_000) {
    const size = Math.min(opts.filestoreBytes - bytes, 16 * 1024 + ((files * 7919) % 1000) * 1024);
    const data = fileContent(files, Math.max(size, 1));
    const sha1 = createHash("sha1").update(data).digest("hex");
    const dir = join(opts.filestoreDir, sha1.slice(0, 2));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, sha1), data);
    if (opts.filestoreOwner) {
      chownSync(dir, opts.filestoreOwner.uid, opts.filestoreOwner.gid);
      chownSync(join(dir, sha1), opts.filestoreOwner.uid, opts.filestoreOwner.gid);
    }
    rows.push({
      name: `attachment-${files}.${files % 3 === 2 ? "png" : "csv"}`,
      fname: `${sha1.slice(0, 2)}/${sha1}`,
      sha1,
      size: data.length,
      mimetype: files % 3 === 2 ? "image/png" : "text/csv",
    });
    bytes += data.length;
    files++;
  }
  if (opts.filestoreOwner) chownSync(opts.filestoreDir, opts.filestoreOwner.uid, opts.filestoreOwner.gid);
  await asOwner(sql, opts.owner, async (tx) => {
    for (const r of rows) {
      await tx`INSERT INTO ir_attachment (name, res_model, res_id, type, store_fname, checksum, file_size, mimetype)
               VALUES (${r.name}, 'account.move', ${files}, 'binary', ${r.fname}, ${r.sha1}, ${r.size}, ${r.mimetype})`;
    }
  });
  return { files, bytes };
}

export async function generateOdooData(opts: GenerateOptions): Promise<GenerateResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => undefined);
  assertIdent(opts.db, "database");
  mkdirSync(opts.filestoreDir, { recursive: true });
  const sql = pgConnect({ ...opts.pg, database: opts.db });
  const rows = { res_partner: 0, mail_message: 0, account_move_line: 0, ir_attachment: 0 };
  let batches = 0;
  try {
    await asOwner(sql, opts.owner, async (tx) => {
      await tx.unsafe(BULK_TABLES);
    });
    const fs = await addFilestore(sql, opts);
    rows.ir_attachment = fs.files;
    let size = await dbSize(sql, opts.db);
    // Small targets get small batches (a 80 MB test database must not overshoot to 150 MB).
    const scale = Math.min(1, Math.max(0.02, (opts.targetBytes - size) / 1.5e9));
    const batch = {
      partners: Math.ceil(BATCH.partners * scale),
      messages: Math.ceil(BATCH.messages * scale),
      moveLines: Math.ceil(BATCH.moveLines * scale),
    };
    log(
      `filestore: ${fs.files} files, ${(fs.bytes / MiB).toFixed(0)} MiB; database ${(size / MiB).toFixed(0)} MiB, growing to ${(opts.targetBytes / MiB).toFixed(0)} MiB`,
    );
    // The target holds for the size AFTER vacuum (which adds visibility-map forks and may
    // truncate): grow, vacuum, and grow again if it is still short.
    for (let pass = 0; pass < 3 && size < opts.targetBytes; pass++) {
      while (size < opts.targetBytes && batches < MAX_BATCHES) {
        const [p0, m0, l0] = [
          await maxId(sql, "res_partner"),
          await maxId(sql, "mail_message"),
          await maxId(sql, "account_move_line"),
        ];
        const partners = p0 + batch.partners;
        // Two connections at once: one table each, so both cores work (the pool has 4).
        await Promise.all([
          asOwner(sql, opts.owner, async (tx) => {
            await tx.unsafe(PARTNERS, [p0 + 1, partners]);
            await tx.unsafe(MESSAGES, [m0 + 1, m0 + batch.messages, partners]);
          }),
          asOwner(sql, opts.owner, async (tx) => {
            await tx.unsafe(MOVE_LINES, [l0 + 1, l0 + batch.moveLines, partners]);
          }),
        ]);
        rows.res_partner += batch.partners;
        rows.mail_message += batch.messages;
        rows.account_move_line += batch.moveLines;
        batches++;
        size = await dbSize(sql, opts.db);
        if (batches % 5 === 0)
          log(
            `  ${batches} batches: ${(size / MiB).toFixed(0)} MiB (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
          );
      }
      log(`VACUUM (FREEZE, ANALYZE) at ${(size / MiB).toFixed(0)} MiB`);
      // Outside a transaction (VACUUM refuses one); as the admin, who may vacuum every table.
      await sql.unsafe("VACUUM (FREEZE, ANALYZE)");
      size = await dbSize(sql, opts.db);
    }
    return {
      dbBytes: size,
      batches,
      rows,
      filestoreFiles: fs.files,
      filestoreBytes: fs.bytes,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await sql.close();
  }
}
