/**
 * `{ fake: <kind> }` rules as SQL expressions over one column of the row being copied.
 * Deterministic within one copy: the value is derived from `md5(key || normalized source)`, the
 * key being random per copy and living only in a session setting (ANON_KEY_SETTING) of the
 * session that reads the source — so the same address gives the same fake everywhere (joins and
 * de-duplication keep working), the fake cannot be reversed by hashing guessed addresses (no
 * key), and the key never reaches the copy. Not HMAC: pgcrypto needs a superuser to install,
 * md5() is core. NULL and '' stay as they are (a partner without a phone does not get one).
 * Every expression yields text; the column's own input function parses it on the copy's side.
 */
import { z } from "zod";

export const FAKE_KINDS = [
  "email",
  "login",
  "phone",
  "name",
  "company",
  "street",
  "city",
  "zip",
  "vat",
  "url",
  "iban",
  "ip",
  "text",
  "html",
  "secret",
] as const;
export const FakeKind = z.enum(FAKE_KINDS);
export type FakeKind = z.infer<typeof FakeKind>;

/** A custom setting (any role may set `prefix.name`), set with a bound parameter per session. */
export const ANON_KEY_SETTING = "odooops.anon_key";

export interface FakeColumn {
  /** The column, already validated and quoted. */
  col: string;
  /** Whether the column accepts NULL (`secret` then empties it). */
  nullable: boolean;
  /** The row's quoted `id` column (`login` needs it for uniqueness). */
  id: string;
}

const KEY = `current_setting('${ANON_KEY_SETTING}')`;

/** 32 hex digits keyed on the copy's key. */
function keyed(input: string): string {
  return `md5(${KEY} || ${input})`;
}

/** `n` decimal digits taken from the hex hash at `from` (a..f mapped to 0..5). */
function digits(hash: string, from: number, n: number): string {
  return `translate(substr(${hash}, ${from}, ${n}), 'abcdef', '012345')`;
}

function keepEmpty(col: string, expr: string): string {
  return `CASE WHEN ${col} IS NULL OR ${col}::text = '' THEN ${col}::text ELSE ${expr} END`;
}

/** The expression replacing `c.col` for `kind`. */
export function fakeSql(kind: FakeKind, c: FakeColumn): string {
  const v = `${c.col}::text`;
  // Case and surrounding blanks do not make another person.
  const word = keyed(`lower(trim(${v}))`);
  switch (kind) {
    case "email":
      return keepEmpty(c.col, `'u' || substr(${word}, 1, 16) || '@example.invalid'`);
    case "login":
      // Unique because the id is; a login that is not an address ("admin") is no personal data.
      return keepEmpty(
        c.col,
        `CASE WHEN ${v} LIKE '%@%' THEN 'user-' || ${c.id}::text || '@example.invalid' ELSE ${v} END`,
      );
    case "phone": {
      // By digits: "+32 475 12 34 56" and "0032475123456" are one number. +44 7700 900000–900999
      // is Ofcom's range for drama, never assigned. Not NANP 555-01xx: a source holding such a
      // fictional number (demo data does) would be a prefix of one fake in a hundred.
      const h = keyed(`regexp_replace(${v}, '[^0-9]', '', 'g')`);
      return keepEmpty(c.col, `'+44 7700 900' || ${digits(h, 1, 3)}`);
    }
    // Letters only: 8 hex digits are all decimal once in 40, and such a name reads as a phone
    // number to the PII check (it matched a source number in the anonymized-clone bench).
    case "name":
      return keepEmpty(c.col, `'Person ' || translate(upper(substr(${word}, 1, 8)), '0123456789', 'GHJKMNPQRS')`);
    case "company":
      return keepEmpty(c.col, `'Company ' || translate(upper(substr(${word}, 1, 8)), '0123456789', 'GHJKMNPQRS')`);
    case "street":
      return keepEmpty(c.col, `${digits(word, 1, 3)} || ' Example Street'`);
    case "city":
      return keepEmpty(c.col, `'City ' || upper(substr(${word}, 1, 6))`);
    case "zip":
      return keepEmpty(c.col, digits(word, 1, 5));
    case "vat":
      return keepEmpty(c.col, `'XX' || ${digits(word, 1, 10)}`);
    case "url":
      return keepEmpty(c.col, `'https://example.invalid/' || substr(${word}, 1, 12)`);
    case "iban":
      return keepEmpty(c.col, `'XX00' || ${digits(word, 1, 16)}`);
    case "ip":
      // 192.0.2.0/24: TEST-NET-1 (RFC 5737), never routed.
      return keepEmpty(c.col, `'192.0.2.' || (1 + ('x' || substr(${word}, 1, 2))::bit(8)::int % 254)::text`);
    case "text":
      return keepEmpty(c.col, `'anonymized'`);
    case "html":
      return keepEmpty(c.col, `'<p>anonymized</p>'`);
    case "secret":
      // A nullable secret is best gone; a required one gets a value nobody can know (the key is
      // random per copy, random() differs per row).
      return c.nullable ? "NULL" : keepEmpty(c.col, `md5(${KEY} || random()::text)`);
  }
}
