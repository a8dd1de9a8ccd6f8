/**
 * The hand-written scan (NeedleMatcher.scanUtf8: the phones on UTF-8 bytes, the e-mail gate in
 * the same pass) against the expressions it replaced, kept here as the reference: the same
 * findings on generated values with the formats that make PHONE_RE's look-arounds and digit
 * groups matter, the encodings of `@`, non-ASCII neighbours, and on the fixed cases of
 * pii-match.test.ts.
 */
import { describe, expect, test } from "bun:test";
import {
  EMAIL_RE,
  MAX_LOCAL,
  MIN_PHONE_DIGITS,
  NeedleMatcher,
  type NeedleSets,
  normalizeForEmails,
  PHONE_RE,
  phoneKeys,
} from "../../../src/db/anonymize/pii-match";
import { seededRandom } from "../../support/seeded-random";

type Found = { emails: Set<string>; phones: Set<string> };

const referenceMayHoldEmail = /[@%&\\]/;
const referenceMayHoldPhone = /[0-9][-0-9 ()./]{5,}[0-9]/;
const referenceNonDigits = /[^0-9]+/g;
const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * NeedleMatcher.scan as it was with PHONE_RE (commit c8f3a01), on plain Sets and Maps of the
 * needles' strings; a number found is named by its core, as the matcher names it.
 */
class ReferenceMatcher {
  private readonly emails = new Set<string>();
  private readonly domains = new Set<string>();
  /** Needles by their last MIN_PHONE_DIGITS digits. */
  private readonly phones = new Map<string, string[]>();
  private longestLocal = 0;

  constructor(needles: NeedleSets) {
    for (const e of needles.emails) {
      if (this.emails.has(e)) continue;
      this.emails.add(e);
      const i = e.indexOf("@");
      this.domains.add(e.slice(i + 1));
      this.longestLocal = Math.max(this.longestLocal, i);
    }
    for (const p of needles.phones) {
      if (p.length < MIN_PHONE_DIGITS) continue;
      const key = p.slice(-MIN_PHONE_DIGITS);
      this.phones.set(key, [...(this.phones.get(key) ?? []), p]);
    }
  }

  scan(text: string, found: Found): void {
    if (this.emails.size > 0 && referenceMayHoldEmail.test(text))
      this.scanEmails(normalizeForEmails(text), found.emails);
    if (this.phones.size > 0 && referenceMayHoldPhone.test(text)) this.scanPhones(text, found.phones);
  }

  private scanEmails(text: string, found: Set<string>): void {
    const emailRe = new RegExp(EMAIL_RE, "g");
    for (let m = emailRe.exec(text); m; m = emailRe.exec(text)) {
      const at = m.index + (m[1] ?? "").length;
      const end = m.index + m[0].length;
      const firstLocal = Math.max(m.index, at - MAX_LOCAL, at - this.longestLocal);
      for (let to = text.indexOf(".", at + 1) + 1; to <= end; to++) {
        if (to < end && text.charCodeAt(to) !== 46) continue;
        if (!this.domains.has(text.slice(at + 1, to))) continue;
        for (let from = firstLocal; from < at; from++) {
          if (this.emails.has(text.slice(from, to))) found.add(text.slice(from, to));
        }
      }
    }
  }

  private scanPhones(text: string, found: Set<string>): void {
    const phoneRe = new RegExp(PHONE_RE, "g");
    for (let m = phoneRe.exec(text); m; m = phoneRe.exec(text)) {
      const run = m[0];
      const digits = run.replace(referenceNonDigits, "");
      let end = 0;
      for (let k = 0; k < run.length; k++) {
        if (!isDigit(run.charCodeAt(k))) continue;
        end += 1;
        if (end < MIN_PHONE_DIGITS || isDigit(run.charCodeAt(k + 1))) continue;
        const upTo = digits.slice(0, end);
        for (const p of this.phones.get(upTo.slice(-MIN_PHONE_DIGITS)) ?? []) {
          const { core } = phoneKeys(p);
          if (upTo.endsWith(core)) found.add(core);
        }
      }
    }
  }
}

function scanWith(m: { scan(text: string, found: Found): void }, text: string): { emails: string[]; phones: string[] } {
  const f: Found = { emails: new Set(), phones: new Set() };
  m.scan(text, f);
  return { emails: [...f.emails].sort(), phones: [...f.phones].sort() };
}

/** Seeded values: needles written in many ways, near misses, and the characters around them. */
function generated(seed: number, count: number) {
  const rnd = seededRandom(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const digits = (n: number) => Array.from({ length: n }, () => String(int(10))).join("");
  const phones = Array.from(
    { length: 3000 },
    () => pick(["32", "33", "44", "1", ""]) + pick(["4", "2", "9"]) + digits(5 + int(6)),
  );
  const emails = Array.from(
    { length: 2000 },
    (_, i) =>
      `${pick(["ann", "bo", "x.y", "j-p", "o'neil", "n."])}${i}@${pick(["client", "ex-ample", "a.b"])}${i % 13}.${pick(["org", "be", "co.uk"])}`,
  );
  const seps = [" ", ".", "-", "/", "(", ")", " (0)", "  ", "..", ""];
  const glue = [
    "",
    "",
    "",
    " ",
    "a",
    "Z",
    "x",
    "0",
    "9",
    "é",
    "€",
    "\u00a0",
    "_",
    "#",
    ":",
    "+",
    "(",
    ")",
    "-",
    ".",
    "/",
    "\n",
    "日",
  ];
  function formatPhone(p: string): string {
    let rest = int(3) === 0 ? p : p.slice(int(Math.min(4, p.length - 6)));
    if (int(4) === 0) rest = `0${rest.slice(-9)}`;
    let out = int(3) === 0 ? "+" : "";
    while (rest.length > 0) {
      const n = 1 + int(4);
      out += rest.slice(0, n);
      rest = rest.slice(n);
      if (rest.length > 0) out += pick(seps);
    }
    if (int(6) === 0) out = out.slice(0, -1) + String(int(10));
    return out;
  }
  function formatEmail(e: string): string {
    const at = pick(["@", "@", "%40", "&#64;", "&#064;", "&#x40;", "&#X0040;", "&commat;", "\\u0040", "\\U0040"]);
    const dot = pick([".", ".", "%2e", "%2E", "&#46;", "&#x2e;", "&period;", "\\u002e"]);
    const [local = "", domain = ""] = e.split("@");
    let out = `${local}${at}${domain.replace(".", dot)}`;
    if (int(3) === 0) out = out.toUpperCase();
    if (int(5) === 0) out = `${pick(["mailto:", '"N" <', "xx", "invoice_"])}${out}${pick([">", ".pdf", "", "anic"])}`;
    return out;
  }
  const other = [
    () => digits(4) + pick(["-", "/", "."]) + digits(2) + pick(["-", "/", "."]) + digits(2),
    () => Array.from({ length: 4 + int(20) }, () => pick([..."0123456789abcdef"])).join(""),
    () => `${digits(1 + int(12))}${pick(seps)}${digits(1 + int(12))}`,
    () => `${pick(seps)}${digits(7 + int(4))}${pick(seps)}`,
    () => `INV/${digits(4)}/${digits(5)}`,
    () => `${int(1000)}.${digits(2)} EUR`,
    () => pick(["Rue de la Loi 16", "Odoo S.A.", "café", "", "   ", "—", "日本語テキスト"]),
    () => pick(phones).slice(-8),
    () => digits(40 + int(100)),
  ];
  const values: string[] = [];
  for (let v = 0; v < count; v++) {
    const parts: string[] = [];
    for (let k = 1 + int(4); k > 0; k--) {
      const r = int(10);
      const part = r < 4 ? formatPhone(pick(phones)) : r < 6 ? formatEmail(pick(emails)) : pick(other)();
      parts.push(pick(glue) + part + pick(glue));
    }
    values.push(parts.join(pick([" ", " / ", ", ", "", "\n", ";", "tel"])));
  }
  return { needles: { emails, phones }, values };
}

describe("the hand-written scan finds what the expressions found", () => {
  test("on 24,000 generated values", () => {
    const { needles, values } = generated(14, 24000);
    const matcher = new NeedleMatcher(needles);
    const reference = new ReferenceMatcher(needles);
    let emailHits = 0;
    let phoneHits = 0;
    let differ = 0;
    for (const text of values) {
      const want = scanWith(reference, text);
      const got = scanWith(matcher, text);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        differ++;
        expect({ text, got }).toEqual({ text, got: want });
      }
      emailHits += want.emails.length;
      phoneHits += want.phones.length;
    }
    expect(differ).toBe(0);
    // Not vacuous: many of both are found (and many written ways are not).
    expect(emailHits).toBeGreaterThan(2000);
    expect(phoneHits).toBeGreaterThan(4000);
  });

  test("on a value's bytes inside a larger buffer: only [start, end) is read", () => {
    const { needles, values } = generated(15, 4000);
    const matcher = new NeedleMatcher(needles);
    for (const text of values) {
      // Digits, a letter and an `@` right outside the range would glue or extend what is inside.
      const b = Buffer.from(`x@9${text}9@x`);
      const f = { emails: new Set<string>(), phones: new Set<string>() };
      matcher.scanUtf8(b, 3, b.length - 3, f);
      const got = { emails: [...f.emails].sort(), phones: [...f.phones].sort() };
      expect([text, got]).toEqual([text, scanWith(matcher, text)]);
    }
  });

  test("on the fixed tricky cases", () => {
    const needles = {
      emails: ["ann.lee@client.example.org", "bo@x.io", "ann.1234567@client.example.org"],
      phones: ["32470123456", "5550100", "3225123456", "32470090001"],
    };
    const matcher = new NeedleMatcher(needles);
    const reference = new ReferenceMatcher(needles);
    const texts = [
      "+32 470 12 34 56",
      "0470/12.34.56",
      "32470123456",
      "(+32) 470-123-456",
      "1234567 0470123456",
      "sha a32470123456b, id X0470123456, 0470123456z",
      "(0470123456)",
      "call 555-0100",
      "call 555-010",
      "tel. 02/512.34.56",
      "+32 (0)2 512 34 56",
      "+32 470 12 34 57",
      "+44 7700 900012",
      "+32 470 09 00 01 / 02 512 34 56",
      "02 512 34 56 / 0470 12 34 56",
      "-0470123456-",
      "é0470123456é",
      "0470123456\u00e9x",
      "a1 0470123456",
      "x5550100 5550100y 5550100",
      "2026-12-05 555-0100 02/512.34.56.",
      "write to ann.lee@client.example.org today, ANN.LEE%40CLIENT%2EEXAMPLE.ORG",
      // A digit run ended by `@` (or `%`): the byte that ends the run may be the only address mark.
      "ann.1234567@client.example.org",
      "Ann.1234567%40client.example.org",
    ];
    for (const text of texts) expect([text, scanWith(matcher, text)]).toEqual([text, scanWith(reference, text)]);
  });
});
