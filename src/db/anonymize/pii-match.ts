/**
 * How the PII check recognises a source value, shared by the SQL scan (db/backup/pii.ts) and the
 * filestore scan (check-files.ts) so both find exactly the same things.
 *
 * E-mails: text is lower-cased and the usual encodings of `@` and `.` are undone (`%40`, `&#64;`,
 * `&#x40;`, `&commat;`, `\u0040`, and the same for the dot), then `local@domain` tokens are
 * extracted. A source address counts as found when some suffix of a token's local part, `@`, and
 * a prefix of its domain at a label boundary spell it: `mailto:`, `"Name" <…>`, a file name like
 * `invoice_ann@x.com.pdf` and a glued prefix all still match.
 *
 * Phones: runs of digits with separators (space, parentheses, dot, dash, slash), not glued to
 * letters. A source number (≥ 7 digits) counts as found when the digits of such a run, up to the
 * end of one of its digit groups, end with the number's last 8 digits (all of them when
 * shorter): `+32 2 512 34 56`, `02/512.34.56` and `3225123456` are the same number, and so is
 * one written next to another (`02 512 34 56 / 0470 12 34 56`). A number's end is where it
 * differs least between formats; only prefixes (country code, trunk 0) vary. A number is
 * therefore known, and reported, by that core: `32470123456` and `0470123456` are one number,
 * `70123456`. Each group end is one bit lookup, never a try of every needle against every value.
 */

import { FingerprintSet, ReverseHash } from "./fingerprint-set";

/** `local@domain` on normalized text: group 1 the local part, group 2 the domain. */
export const EMAIL_RE = "([a-z0-9._%+'-]+)@([a-z0-9-]+(?:\\.[a-z0-9-]+)+)";
/**
 * A digit run with separators, 7 characters or more, not glued to letters or digits: its digits
 * are the candidate phone number. The boundaries keep hex strings, hashes and identifiers out —
 * with tens of thousands of needles, random 8-digit stretches of those would match some.
 */
export const PHONE_RE = "(?<![0-9A-Za-z])[0-9][-0-9 ()./]{5,}[0-9](?![0-9A-Za-z])";
/** Encodings of `@` (lower-cased text). */
export const AT_RE = "%40|&#0*64;|&#x0*40;|&commat;|\\\\u0040";
/** Encodings of `.` (lower-cased text). */
export const DOT_RE = "%2e|&#0*46;|&#x0*2e;|&period;|\\\\u002e";

/** Digits a phone needle must have. */
export const MIN_PHONE_DIGITS = 7;
/** The part of a source number that must appear (drops country codes and trunk prefixes). */
export const PHONE_CORE_DIGITS = 8;
/** Longest local part compared (RFC 5321 allows 64). */
export const MAX_LOCAL = 64;

/** The digits of a source phone that must be found, and the 7-digit key candidates are looked up by. */
export function phoneKeys(digits: string): { core: string; key: string } {
  const core = digits.slice(-PHONE_CORE_DIGITS);
  return { core, key: core.slice(-MIN_PHONE_DIGITS) };
}

const at = new RegExp(AT_RE, "g");
const dot = new RegExp(DOT_RE, "g");
/** Every encoding of `@` and `.` starts with one of these (any case): without them, nothing to undo. */
const ENCODED = /[%&\\]/;
const emailRe = new RegExp(EMAIL_RE, "g");
const DOT = 46;

/** What the one pass of scanUtf8 needs to know of a byte (a class bit each). */
const DIGIT = 1;
/** ASCII only, as PHONE_RE's `[A-Za-z]` (no `u` flag): `é` next to a number does not glue it. */
const LETTER = 2;
/** The separators PHONE_RE allows between digits (`-`, space, `(`, `)`, `.`, `/`). */
const SEPARATOR = 4;
/** `@` or the first byte of an encoding of it (`%40`, `&#64;`, `&commat;`, `\u0040`): without one, no address. */
const MAY_START_EMAIL = 8;
const BYTE_CLASS = new Uint8Array(256);
for (let c = 48; c <= 57; c++) BYTE_CLASS[c] = DIGIT;
for (let c = 65; c <= 90; c++) BYTE_CLASS[c] = LETTER;
for (let c = 97; c <= 122; c++) BYTE_CLASS[c] = LETTER;
for (const c of "- ()./") BYTE_CLASS[c.charCodeAt(0)] = SEPARATOR;
for (const c of "@%&\\") BYTE_CLASS[c.charCodeAt(0)] = MAY_START_EMAIL;
/** A bit for every possible core of 7 digits (a 7-digit number) and of 8 (all longer ones). */
const CORES_OF_7 = 10 ** MIN_PHONE_DIGITS;
const CORES_OF_8 = 10 ** PHONE_CORE_DIGITS;
/** The current run's digits (scanPhones is synchronous: one buffer serves every matcher). */
const runDigits = new Uint8Array(64);

/** What the e-mail pass reads: lower-cased, encodings of `@` and `.` undone. */
export function normalizeForEmails(text: string): string {
  const lower = text.toLowerCase();
  return ENCODED.test(lower) ? lower.replace(at, "@").replace(dot, ".") : lower;
}

/** Source values as the check stores them: addresses lower-cased, phones as digits. */
export interface NeedleSets {
  emails: readonly string[];
  phones: readonly string[];
}

/**
 * Which source values a text holds: the filestore's files and the database's values
 * (check-db.ts). Per token, a few set lookups: a domain prefix is tried only when some needle
 * has that domain, a local-part suffix only up to the longest needle's; per digit group end of
 * a run, one bit. Its memory grows with the source by 8–16 bytes per address only: addresses
 * are 63-bit fingerprints (fingerprint-set.ts), numbers a bit each in two fixed bitmaps of every
 * possible core (13.75 MB whatever the source) — at 2 GiB the packed strings they replace were
 * most of the daemon's peak (bench/README.md). One matcher serves the database and the
 * filestore halves.
 */
export class NeedleMatcher {
  private readonly emails = new FingerprintSet();
  private readonly domains = new FingerprintSet();
  private longestLocal = 0;
  /** Bit k of coresOf7 / coresOf8: some source number's core is k, of 7 / 8 digits. */
  private readonly coresOf7 = new Uint8Array(CORES_OF_7 / 8);
  private readonly coresOf8 = new Uint8Array(CORES_OF_8 / 8);
  private phones = 0;
  /** Hashes the candidates of scanEmails (one matcher scans one text at a time). */
  private readonly candidate = new ReverseHash();

  /** `needles` may be left out and the values added as they are read (addEmail, addPhone). */
  constructor(needles: NeedleSets = { emails: [], phones: [] }) {
    for (const e of needles.emails) this.addEmail(e);
    for (const p of needles.phones) this.addPhone(p);
  }

  /** A lower-cased `local@domain` address, as EMAIL_RE extracts it. */
  addEmail(e: string): void {
    if (!this.emails.add(e)) return;
    const i = e.indexOf("@");
    this.domains.add(e, i + 1);
    this.longestLocal = Math.max(this.longestLocal, i);
  }

  /** A phone number's digits (shorter than MIN_PHONE_DIGITS: not a number the check looks for). */
  addPhone(digits: string): void {
    if (digits.length < MIN_PHONE_DIGITS) return;
    const core = phoneKeys(digits).core;
    const bits = core.length === PHONE_CORE_DIGITS ? this.coresOf8 : this.coresOf7;
    const k = Number(core);
    const had = bits[k >>> 3] as number;
    if ((had & (1 << (k & 7))) !== 0) return;
    bits[k >>> 3] = had | (1 << (k & 7));
    this.phones++;
  }

  /** Distinct source addresses. */
  get emailCount(): number {
    return this.emails.size;
  }

  /** Distinct source numbers, by their core (PHONE_CORE_DIGITS). */
  get phoneCount(): number {
    return this.phones;
  }

  get size(): number {
    return this.emails.size + this.phones;
  }

  /** Adds every source value found in `text` to `found` (scanUtf8 of its UTF-8 bytes). */
  scan(text: string, found: { emails: Set<string>; phones: Set<string> }): void {
    const bytes = Buffer.from(text, "utf8");
    this.scanUtf8(bytes, 0, bytes.length, found);
  }

  /**
   * Adds every source value found in the UTF-8 text `buf[start, end)` to `found`, reading the
   * bytes in place: the phone scan looks at digits, ASCII letters and separators only, all one
   * byte each, and every byte of a longer character is ≥ 0x80, neither of those, as the character
   * itself is neither — so the bytes give the findings of the decoded text. Only a value that may
   * hold an address is decoded: decoding every value that passed a byte gate was a third of the
   * database check's CPU (bench/README.md).
   */
  scanUtf8(buf: Buffer, start: number, end: number, found: { emails: Set<string>; phones: Set<string> }): void {
    const mayHoldEmail = this.scanPhones(buf, start, end, found.phones);
    if (mayHoldEmail && this.emails.size > 0)
      this.scanEmails(normalizeForEmails(buf.toString("utf8", start, end)), found.emails);
  }

  /**
   * Candidates are ranges of `text` (a local-part suffix, `@`, a domain prefix ending at a label
   * boundary), looked up in place: only a found address becomes a string. The suffixes of one
   * token share their hash: `@domain` is hashed once, then one character more per suffix.
   */
  private scanEmails(text: string, found: Set<string>): void {
    const h = this.candidate;
    emailRe.lastIndex = 0;
    for (let m = emailRe.exec(text); m; m = emailRe.exec(text)) {
      const at = m.index + (m[1] ?? "").length;
      const end = m.index + m[0].length;
      const firstLocal = Math.max(m.index, at - MAX_LOCAL, at - this.longestLocal);
      // The domain has at least one dot: its prefixes end at every later dot and at its end.
      for (let to = text.indexOf(".", at + 1) + 1; to <= end; to++) {
        if (to < end && text.charCodeAt(to) !== DOT) continue;
        if (!this.domains.has(text, at + 1, to)) continue;
        h.reset();
        h.pushRange(text, at, to);
        for (let from = at - 1; from >= firstLocal; from--) {
          h.push(text.charCodeAt(from));
          if (this.emails.hasHash(h)) found.add(text.slice(from, to));
        }
      }
    }
  }

  /**
   * PHONE_RE by hand, one pass over the bytes: a run starts at a digit not glued to a letter or
   * digit, goes on through digits and separators, and each of its digit groups that ends before
   * a separator, a non-letter or the text's end is where PHONE_RE's match may end. Those are
   * exactly the group ends PHONE_RE's one match per run holds (a group end with
   * MIN_PHONE_DIGITS digits is ≥ 6 characters after the start). The digits are kept as bytes and
   * looked up in place: the regex, a digit string per run and a callback per group were most of
   * the check's CPU (bench/README.md, "Check read through COPY"). The same pass notes whether
   * the bytes may hold an address (a byte `@ % & \`), returned: a second pass over every value
   * for that alone cost as much as this one.
   */
  private scanPhones(b: Uint8Array, start: number, end: number, found: Set<string>): boolean {
    let seen = 0;
    for (let i = start; i < end; i++) {
      const k = BYTE_CLASS[b[i] as number] as number;
      if (k !== DIGIT) {
        seen |= k;
        continue;
      }
      if (i > start && ((BYTE_CLASS[b[i - 1] as number] as number) & (DIGIT | LETTER)) !== 0) continue;
      // Digits in runDigits (its last PHONE_CORE_DIGITS once it overflows), and in the whole run.
      let kept = 0;
      let total = 0;
      for (let afterDigit = false; ; i++) {
        // Past the end: no class, as before the start.
        const c = i < end ? (BYTE_CLASS[b[i] as number] as number) : 0;
        if (c === DIGIT) {
          if (kept === runDigits.length) {
            runDigits.copyWithin(0, kept - PHONE_CORE_DIGITS, kept);
            kept = PHONE_CORE_DIGITS;
          }
          runDigits[kept++] = b[i] as number;
          total++;
          afterDigit = true;
          continue;
        }
        if (afterDigit && total >= MIN_PHONE_DIGITS && c !== LETTER) this.findPhones(kept, found);
        // Anything else ends the run; a digit after it is judged by the outer loop (glued or not).
        if (c !== SEPARATOR) {
          seen |= c;
          break;
        }
        afterDigit = false;
      }
    }
    return (seen & MAY_START_EMAIL) !== 0;
  }

  /**
   * The source numbers whose core ends runDigits[0, kept): the last 7 digits for a 7-digit one,
   * the last 8 for the others (kept ≥ 8 whenever the run has that many). Found, it is the core.
   */
  private findPhones(kept: number, found: Set<string>): void {
    let k = 0;
    for (let i = kept - MIN_PHONE_DIGITS; i < kept; i++) k = k * 10 + (runDigits[i] as number) - 48;
    if (((this.coresOf7[k >>> 3] as number) & (1 << (k & 7))) !== 0)
      found.add(String.fromCharCode(...runDigits.subarray(kept - MIN_PHONE_DIGITS, kept)));
    if (kept < PHONE_CORE_DIGITS) return;
    k += ((runDigits[kept - PHONE_CORE_DIGITS] as number) - 48) * CORES_OF_7;
    if (((this.coresOf8[k >>> 3] as number) & (1 << (k & 7))) !== 0)
      found.add(String.fromCharCode(...runDigits.subarray(kept - PHONE_CORE_DIGITS, kept)));
  }
}

/** What a report may show of a found value: enough to look it up, not enough to leak it. */
export function maskValue(v: string): string {
  return `${v.slice(0, 3)}***`;
}
