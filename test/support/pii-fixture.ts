/**
 * A production database full of personal data, for the stand-in's Odoo schema (an env created
 * with base, web, mail): partners with e-mails and phones, users whose login is their e-mail,
 * messages quoting OTHER partners' addresses (plain, mailto:, HTML entities, %40, "Name" <…>)
 * and their numbers re-formatted, attachments whose names, descriptions, index_content and
 * content (db_datas AND stored files) hold addresses and numbers, a second mail server, custom
 * x_ columns (no personal data in them: they must not trip the check). Everything is inserted by
 * the env's own role, as Odoo would. Returns the ground truth, for a scan independent of the
 * product's own needle collection.
 */
import type { SQL } from "bun";
import { createHash, randomBytes } from "node:crypto";
import { chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface PiiGroundTruth {
  /** In the local part of every planted address: letters no hex dump or random byte run spells. */
  tag: string;
  /** Every address planted (lower-cased). */
  emails: string[];
  /** Every number planted, as stored (formatted). */
  phones: string[];
  partners: number;
  users: number;
  messages: number;
  attachments: number;
  files: number;
}

const DOMAINS = ["clientmail.example.org", "acme-industries.example.com", "post.example.net", "mail.example.be"];
const FIRST = ["anna", "bart", "chloe", "dirk", "eva", "femke", "gert", "hanne", "ines", "jan", "katrien", "lars"];
const LAST = ["peeters", "janssens", "maes", "jacobs", "mertens", "willems", "claes", "goossens", "wouters", "de.smet"];

/**
 * Numbers with distinct, unremarkable last 8 digits (+32 2 5xx xx xx and +32 47x xx xx xx):
 * i × 7919 modulo a power of ten is a permutation, and the offset keeps runs of zeros out.
 */
function landline(i: number): { stored: string; national: string } {
  const n = String(5_000_000 + ((i * 7919 + 123_457) % 1_000_000)).padStart(7, "0");
  return {
    stored: `+32 2 ${n.slice(0, 3)} ${n.slice(3, 5)} ${n.slice(5)}`,
    national: `02/${n.slice(0, 3)}.${n.slice(3, 5)}.${n.slice(5)}`,
  };
}

function mobile(i: number): { stored: string; national: string } {
  const n = String(70_000_000 + ((i * 7919 + 345_679) % 10_000_000)).padStart(8, "0");
  return {
    stored: `+32 4${n.slice(0, 2)} ${n.slice(2, 4)} ${n.slice(4, 6)} ${n.slice(6)}`,
    national: `(04${n.slice(0, 2)}) ${n.slice(2)}`,
  };
}

/** One address written each way a message or a document might carry it. */
function encodings(email: string, name: string): string[] {
  const [local, domain] = email.split("@") as [string, string];
  return [
    email,
    `<a href="mailto:${email}">${name}</a>`,
    `${local}&#64;${domain}`,
    `${local}&#x40;${domain.replaceAll(".", "&#46;")}`,
    `mailto%3A${local}%40${domain}`,
    `"${name}" <${email.toUpperCase()}>`,
  ];
}

/** The database part; `filestoreDir` is the env's `<data>/filestore/<db>`. */
export async function fillPiiDatabase(
  sql: SQL,
  opts: { partners: number; filestoreDir: string; uid: number; gid: number },
): Promise<PiiGroundTruth> {
  const emails: string[] = [];
  const phones: string[] = [];
  const names: string[] = [];
  const nationals: string[] = [];
  const rows: { name: string; email: string; phone: string; mobile: string }[] = [];
  const tag = `zq${randomBytes(3).toString("hex")}x`;
  for (let i = 0; i < opts.partners; i++) {
    const name = `${FIRST[i % FIRST.length]} ${LAST[Math.floor(i / FIRST.length) % LAST.length]} ${i}`;
    const email = `${name.replaceAll(" ", ".")}.${tag}@${DOMAINS[i % DOMAINS.length]}`.toLowerCase();
    const p = landline(i);
    const m = mobile(i);
    rows.push({ name, email: i % 7 === 0 ? email.toUpperCase() : email, phone: p.stored, mobile: m.stored });
    emails.push(email);
    phones.push(p.stored, m.stored);
    names.push(name);
    nationals.push(i % 2 === 0 ? p.national : m.national);
  }
  await sql.begin(async (tx) => {
    await tx`ALTER TABLE public.res_partner ADD COLUMN x_loyalty_tier varchar, ADD COLUMN x_studio_notes text`;
    await tx`INSERT INTO public.res_partner (name, complete_name, company_id, email, phone, mobile, street, city, zip, comment, x_loyalty_tier, x_studio_notes)
      SELECT n, n, 1, e, p, m, 'Rue de la Loi ' || i, 'Brussels', '1000', '<p>Prefers e-mail: ' || e || '</p>',
             (ARRAY['gold', 'silver', 'bronze'])[1 + i % 3], 'Customer since ' || (2010 + i % 14) || '; ref INV/2023/' || lpad(i::text, 5, '0')
        FROM unnest(${rows.map((r) => r.name)}::text[], ${rows.map((r) => r.email)}::text[], ${rows.map((r) => r.phone)}::text[], ${rows.map((r) => r.mobile)}::text[])
             WITH ORDINALITY AS u(n, e, p, m, i)`;
    // Users: login = e-mail, every fifth partner.
    const hash =
      "$pbkdf2-sha512$600000$" + randomBytes(12).toString("base64") + "$" + randomBytes(48).toString("base64");
    await tx`INSERT INTO public.res_users (login, password, partner_id, active, company_id)
      SELECT lower(p.email), ${hash} || p.id, p.id, true, 1 FROM public.res_partner p
       WHERE p.email IS NOT NULL AND p.id % 5 = 0 AND p.id > 4`;
    // Messages: each quotes another partner's address (one encoding per message, in turn) and number.
    const n = opts.partners;
    const msgs = Array.from({ length: Math.ceil(n / 2) }, (_, k) => {
      const a = (k * 2) % n;
      const b = (k * 7 + 3) % n;
      const quoted = encodings(emails[b]!, names[b]!)[k % 6]!;
      return {
        subject: `Re: order for ${names[a]} (${emails[a]})`,
        body: `<p>Hello ${names[a]},</p><p>please forward to ${quoted} or call ${nationals[b]}.</p>`,
        from: `"${names[a]}" <${emails[a]}>`,
        record: names[a]!,
      };
    });
    await tx`INSERT INTO public.mail_message (subject, body, author_id, email_from, model, res_id, message_type, record_name)
      SELECT s, b, NULL, f, 'res.partner', 1, 'email', r
        FROM unnest(${msgs.map((m) => m.subject)}::text[], ${msgs.map((m) => m.body)}::text[], ${msgs.map((m) => m.from)}::text[], ${msgs.map((m) => m.record)}::text[]) AS u(s, b, f, r)`;
    // A second (real) mail server, credentials of a person.
    await tx`INSERT INTO public.ir_mail_server (name, smtp_host, smtp_port, smtp_user, smtp_pass, smtp_encryption, active)
      VALUES ('Office 365', 'smtp.office365.example.com', 587, ${emails[1]!}, 'o365-secret', 'starttls', true)`;
  });
  // Attachments: one per 20 partners, half in the database, half in the filestore.
  mkdirSync(opts.filestoreDir, { recursive: true });
  let files = 0;
  const attachments = Math.max(10, Math.floor(opts.partners / 20));
  for (let k = 0; k < attachments; k++) {
    const i = (k * 13) % opts.partners;
    const e = emails[i]!;
    const content = Buffer.concat([
      Buffer.from("%PDF-1.4\n"),
      randomBytes(64),
      Buffer.from(`\nBill to: ${names[i]} <${e}>, tel ${phones[i * 2]}\n`),
      Buffer.from(`contact ${emails[(i + 1) % opts.partners]}`, "utf16le"),
      randomBytes(64),
      Buffer.from("\n%%EOF\n"),
    ]);
    const sha = createHash("sha1").update(content).digest("hex");
    const inDb = k % 2 === 0;
    if (!inDb) {
      const dir = join(opts.filestoreDir, sha.slice(0, 2));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, sha), content);
      chownSync(dir, opts.uid, opts.gid);
      chownSync(join(dir, sha), opts.uid, opts.gid);
      files += 1;
    }
    await sql`INSERT INTO public.ir_attachment (name, description, res_model, res_id, company_id, type, db_datas, store_fname, file_size, checksum, mimetype, index_content)
      VALUES (${`invoice_${e}.pdf`}, ${`Sent to ${names[i]}, ${nationals[i]}`}, 'res.partner', ${i + 5}, 1, 'binary',
              ${inDb ? content : null}, ${inDb ? null : `${sha.slice(0, 2)}/${sha}`}, ${content.length}, ${sha}, 'application/pdf',
              ${`Bill to ${names[i]} ${e} tel ${phones[i * 2]}`})`;
  }
  const [users] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM public.res_users WHERE login LIKE '%@%'`;
  return {
    tag,
    emails,
    phones,
    partners: opts.partners,
    users: users?.n ?? 0,
    messages: Math.ceil(opts.partners / 2),
    attachments,
    files,
  };
}
