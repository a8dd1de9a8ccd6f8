/**
 * The needles of a source value, extracted here instead of in SQL: db/backup/pii.ts reads the
 * needle columns as they are (a cursor, no expression per row) and hands each value to these.
 * PostgreSQL's regular expressions over every res_partner and mail_message value were ≈ 198 s of
 * a 2 GiB clone (bench/README.md); the same work here is a plain read plus the JS engine.
 *
 * The set is exactly `needleSql`'s (pii.ts, kept as the definition; test/db/anonymize/
 * needle-extract.test.ts compares both on tricky values): the same gate and markers, tested on
 * the value as written, the same expressions (EMAIL_RE, PHONE_RE, AT_RE, DOT_RE), the same
 * `right(local, 64)`. One difference cannot be mirrored: JS lower-cases U+0130 (İ) to `i` plus a
 * combining dot, where PostgreSQL's lower() gives `i` or leaves it, by the database's locale
 * (and U+212A, the Kelvin sign, to `k` where a C locale leaves it): the only characters whose
 * lower case is ASCII. A value holding either goes back to PostgreSQL (`needsSqlLower`).
 */
import { AT_RE, DOT_RE, EMAIL_RE, MAX_LOCAL, MIN_PHONE_DIGITS, PHONE_RE } from "./pii-match";

/** In the value as written: the SQL normalizes only a value holding one of these. */
export const ENCODING_MARKERS = ["%40", "%2e", "%2E", "&#", "&commat;", "&period;", "\\u00"];
/** In the value as written: the SQL extracts addresses only from a value holding one of these. */
export const AT_MARKERS = ["@", "%40", "&#", "&commat;", "\\u0040"];

const SQL_LOWER_ONLY = /[\u0130\u212a]/;
const at = new RegExp(AT_RE, "g");
const dot = new RegExp(DOT_RE, "g");
const emailRe = new RegExp(EMAIL_RE, "g");
const phoneRe = new RegExp(PHONE_RE, "g");
const NON_DIGITS = /[^0-9]/g;

const holdsAny = (v: string, markers: readonly string[]) => markers.some((m) => v.includes(m));

/** Whether only PostgreSQL's lower() can say which addresses `v` holds (see above). */
export function needsSqlLower(v: string): boolean {
  return SQL_LOWER_ONLY.test(v);
}

/** The addresses `needleSql` extracts from `v` (repeats included); `v` must not `needsSqlLower`. */
export function emailsOf(v: string, add: (email: string) => void): void {
  if (!holdsAny(v, AT_MARKERS)) return;
  const lower = v.toLowerCase();
  const text = holdsAny(v, ENCODING_MARKERS) ? lower.replace(at, "@").replace(dot, ".") : lower;
  emailRe.lastIndex = 0;
  for (let m = emailRe.exec(text); m; m = emailRe.exec(text)) {
    add(`${(m[1] ?? "").slice(-MAX_LOCAL)}@${m[2] ?? ""}`);
  }
}

/** The phone numbers (digits) `needleSql` extracts from `v` (repeats included). */
export function phonesOf(v: string, add: (digits: string) => void): void {
  phoneRe.lastIndex = 0;
  for (let m = phoneRe.exec(v); m; m = phoneRe.exec(v)) {
    const d = m[0].replace(NON_DIGITS, "");
    if (d.length >= MIN_PHONE_DIGITS) add(d);
  }
}
