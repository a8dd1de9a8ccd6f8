/**
 * Test fixture: an Odoo-17-shaped database (the stand-in's tables and column names, see
 * ../shared/odoo-standin/README.md) owned by an env role, with PII-bearing partners, users,
 * crons, a mail server, messages, attachments, and a matching filestore on disk.
 * `blobBytes` of incompressible data make the dump large enough for multipart uploads.
 */
import type { SQL } from "bun";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { createDatabase, createRole } from "../../src/host/postgres/ops";
import { pgConnect, type PgTarget } from "../../src/host/postgres/connect";

export interface OdooFixture {
  db: string;
  owner: string;
  ownerPassword: string;
  partners: number;
  emails: string[];
  phones: string[];
  filestoreDir: string;
  filestoreFiles: number;
}

const SCHEMA = `
CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE, state varchar NOT NULL,
  latest_version varchar, published_version varchar, author varchar, shortdesc jsonb, summary jsonb,
  application boolean DEFAULT false, create_date timestamp DEFAULT now(), write_date timestamp DEFAULT now());
CREATE TABLE ir_module_module_dependency (id serial PRIMARY KEY, name varchar, module_id integer REFERENCES ir_module_module(id));
CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, value text NOT NULL,
  create_date timestamp DEFAULT now(), write_date timestamp DEFAULT now());
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, complete_name varchar, email varchar, phone varchar,
  mobile varchar, street varchar, street2 varchar, city varchar, zip varchar, vat varchar, comment text,
  company_id integer, parent_id integer REFERENCES res_partner(id), is_company boolean DEFAULT false,
  active boolean DEFAULT true, create_date timestamp DEFAULT now(), write_date timestamp DEFAULT now());
CREATE TABLE res_company (id serial PRIMARY KEY, name varchar NOT NULL, partner_id integer REFERENCES res_partner(id),
  email varchar, phone varchar, active boolean DEFAULT true);
CREATE TABLE res_users (id serial PRIMARY KEY, login varchar NOT NULL UNIQUE, password varchar,
  partner_id integer REFERENCES res_partner(id), active boolean DEFAULT true, company_id integer, share boolean DEFAULT false);
CREATE TABLE ir_cron (id serial PRIMARY KEY, cron_name varchar, active boolean, interval_number integer,
  interval_type varchar, numbercall integer, nextcall timestamp, lastcall timestamp, priority integer, user_id integer);
CREATE TABLE ir_mail_server (id serial PRIMARY KEY, name varchar, smtp_host varchar, smtp_port integer,
  smtp_user varchar, smtp_pass varchar, smtp_encryption varchar, active boolean);
CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar, res_model varchar, res_field varchar, res_id integer,
  type varchar, store_fname varchar, checksum varchar, file_size integer, mimetype varchar, db_datas bytea, company_id integer);
CREATE TABLE mail_message (id serial PRIMARY KEY, subject varchar, body text, author_id integer REFERENCES res_partner(id),
  email_from varchar, model varchar, res_id integer, message_type varchar, create_date timestamp DEFAULT now());
CREATE INDEX res_partner_email_idx ON res_partner (email);
CREATE VIEW res_partner_emails AS SELECT id, email FROM res_partner WHERE email IS NOT NULL;
`;

export async function createOdooDatabase(
  admin: SQL,
  pg: Omit<PgTarget, "database">,
  opts: { db: string; partners?: number; blobBytes?: number; filestoreDir: string; filestoreBytes?: number },
): Promise<OdooFixture> {
  const owner = opts.db;
  const ownerPassword = `pw-${opts.db}-secret`;
  await createRole(admin, owner, ownerPassword);
  await createDatabase(admin, opts.db, owner);
  const sql = pgConnect({ ...pg, database: opts.db });
  const partners = opts.partners ?? 200;
  const emails: string[] = [];
  const phones: string[] = [];
  try {
    await sql.begin(async (tx) => {
      // Objects owned by the env role, as Odoo would create them.
      await tx.unsafe(`SET ROLE ${owner}`);
      await tx.unsafe(SCHEMA);
      const modules: [string, string, string][] = [
        ["base", "installed", "17.0.1.3"],
        ["web", "installed", "17.0.1.0"],
        ["mail", "installed", "17.0.1.15"],
        ["contacts", "installed", "17.0.1.0"],
        ["sale", "installed", "17.0.1.2"],
        ["crm", "uninstalled", ""],
        ["website", "uninstalled", ""],
      ];
      for (const [name, state, v] of modules) {
        await tx`INSERT INTO ir_module_module (name, state, latest_version, published_version, shortdesc)
                 VALUES (${name}, ${state}, ${v || null}, ${v || null}, ${JSON.stringify({ en_US: name })}::jsonb)`;
      }
      for (const [key, value] of [
        ["database.uuid", crypto.randomUUID()],
        ["database.secret", randomBytes(16).toString("hex")],
        ["database.create_date", "2024-01-01 00:00:00"],
        ["web.base.url", "https://shop.example.com"],
        ["base.login_cooldown_after", "10"],
      ])
        await tx`INSERT INTO ir_config_parameter (key, value) VALUES (${key}, ${value})`;
      await tx`INSERT INTO res_partner (name, complete_name, email, phone, is_company) VALUES ('YourCompany', 'YourCompany', 'info@yourcompany.example.com', '+1 555-0100', true)`;
      await tx`INSERT INTO res_company (name, partner_id, email, phone) VALUES ('YourCompany', 1, 'info@yourcompany.example.com', '+1 555-0100')`;
      emails.push("info@yourcompany.example.com");
      phones.push("+1 555-0100");
      for (let i = 2; i <= partners; i++) {
        const email = `customer${i}.${randomBytes(3).toString("hex")}@clientmail.example.org`;
        const phone = `+32 2 ${String(100000 + i * 7).slice(0, 3)} ${String(1000 + i).slice(-4)}`;
        const mobile = `+32 47${String(i).padStart(7, "0")}`;
        emails.push(email);
        phones.push(phone, mobile);
        await tx`INSERT INTO res_partner (name, complete_name, email, phone, mobile, street, city, zip, vat, company_id, comment)
                 VALUES (${`Customer ${i}`}, ${`Customer ${i}`}, ${email}, ${phone}, ${mobile}, ${`${i} Rue de la Loi`},
                         'Brussels', '1000', ${`BE0${String(400000000 + i)}`}, 1, ${`Prefers mail to ${email}`})`;
      }
      const hash = "$pbkdf2-sha512$600000$c2FsdHNhbHQ$" + "x".repeat(86);
      await tx`INSERT INTO res_users (login, password, partner_id, active, company_id) VALUES ('__system__', ${hash}, 1, false, 1)`;
      await tx`INSERT INTO res_users (login, password, partner_id, active, company_id) VALUES ('admin', ${hash}, 2, true, 1)`;
      await tx`INSERT INTO res_users (login, password, partner_id, active, company_id) VALUES ('demo', ${hash}, 3, true, 1)`;
      for (const [name, n] of [
        ["Mail: send queue", 1],
        ["Base: autovacuum", 1],
        ["Sale: reminders", 1],
      ] as const) {
        await tx`INSERT INTO ir_cron (cron_name, active, interval_number, interval_type, numbercall, nextcall, priority, user_id)
                 VALUES (${name}, true, ${n}, 'days', -1, now(), 5, 1)`;
      }
      await tx`INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_user, smtp_pass, smtp_encryption, active)
               VALUES ('Demo SMTP', 'smtp.example.com', 587, 'mailer', 'smtp-secret', 'starttls', true)`;
      for (let i = 2; i <= Math.min(partners, 40); i++) {
        await tx`INSERT INTO mail_message (subject, body, author_id, email_from, model, res_id, message_type)
                 VALUES (${`Order ${i}`}, ${`<p>Hello, please call ${phones[(i - 1) * 2 - 1]} or write to ${emails[i - 1]}</p>`},
                         ${i}, ${`"Customer ${i}" <${emails[i - 1]}>`}, 'res.partner', ${i}, 'email')`;
      }
      if (opts.blobBytes) {
        await tx`INSERT INTO ir_attachment (name, res_model, type, db_datas, file_size, mimetype)
                 VALUES ('big.bin', 'res.partner', 'binary', ${randomBytes(opts.blobBytes)}, ${opts.blobBytes}, 'application/octet-stream')`;
      }
    });
  } finally {
    await sql.close();
  }
  // Filestore: <first 2 hex of sha1>/<sha1>, rows in ir_attachment pointing at them.
  mkdirSync(opts.filestoreDir, { recursive: true });
  const total = opts.filestoreBytes ?? 256 * 1024;
  const files = Math.max(3, Math.ceil(total / (512 * 1024)));
  const sql2 = pgConnect({ ...pg, database: opts.db });
  try {
    for (let i = 0; i < files; i++) {
      const data = randomBytes(Math.ceil(total / files));
      const sha1 = createHash("sha1").update(data).digest("hex");
      mkdirSync(join(opts.filestoreDir, sha1.slice(0, 2)), { recursive: true });
      writeFileSync(join(opts.filestoreDir, sha1.slice(0, 2), sha1), data);
      await sql2`INSERT INTO ir_attachment (name, res_model, res_id, type, store_fname, checksum, file_size, mimetype)
                 VALUES (${`file${i}.bin`}, 'res.partner', ${i + 2}, 'binary', ${`${sha1.slice(0, 2)}/${sha1}`}, ${sha1}, ${data.length}, 'application/octet-stream')`;
    }
  } finally {
    await sql2.close();
  }
  return {
    db: opts.db,
    owner,
    ownerPassword,
    partners,
    emails,
    phones,
    filestoreDir: opts.filestoreDir,
    filestoreFiles: files,
  };
}

/** sha256 of every file under `dir` by its relative path ({} when `dir` does not exist): equal ⇔ same filestore. */
export function filestoreChecksums(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** md5 of every public table's rows (sorted by their text form): equal ⇔ same data. */
export async function tableChecksums(pg: Omit<PgTarget, "database">, db: string): Promise<Record<string, string>> {
  const sql = pgConnect({ ...pg, database: db });
  try {
    const tables = await sql<
      { t: string }[]
    >`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`;
    const out: Record<string, string> = {};
    for (const { t } of tables) {
      const [row] = (await sql.unsafe(
        `SELECT count(*)::text || ':' || md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS v FROM public."${t}" x`,
      )) as { v: string }[];
      out[t] = row?.v ?? "";
    }
    return out;
  } finally {
    await sql.close();
  }
}
