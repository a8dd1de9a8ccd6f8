/**
 * The addresses' fingerprint set (fingerprint-set.ts): the same answers as a Set on thousands of
 * random strings and every range of texts embedding them, through its rehashes; the reverse
 * hash fed one character at a time is the hash of the whole range.
 */
import { describe, expect, test } from "bun:test";
import { FingerprintSet, ReverseHash } from "../../../src/db/anonymize/fingerprint-set";
import { seededRandom } from "../../support/seeded-random";

const rand = seededRandom(18);
const str = (alphabet: string, min: number, max: number) =>
  Array.from(
    { length: min + Math.floor(rand() * (max - min + 1)) },
    () => alphabet[Math.floor(rand() * alphabet.length)],
  ).join("");

describe("FingerprintSet", () => {
  test("filled one string at a time, through many rehashes: answers as a Set, members and near misses", () => {
    const values = Array.from({ length: 12_000 }, () => `${str("abcde.", 1, 9)}@${str("xyz", 1, 4)}.org`);
    const set = new Set<string>();
    const fps = new FingerprintSet();
    for (let i = 0; i < 18_000; i++) {
      const v = values[Math.floor(rand() * values.length)] as string;
      // Kept exactly when it is new.
      expect(fps.add(v)).toBe(!set.has(v));
      set.add(v);
    }
    expect(fps.size).toBe(set.size);
    for (const v of set) expect(fps.has(v)).toBe(true);
    for (let n = 0; n < 20_000; n++) {
      const p = `${str("abcde.", 0, 10)}@${str("xyz", 1, 4)}.org`;
      expect(fps.has(p)).toBe(set.has(p));
    }
    expect(fps.has("")).toBe(false);
  });

  test("has(s, from, to) answers as has() of the cut-out range: every range of texts embedding members", () => {
    const values = Array.from({ length: 3000 }, () => `${str("ab.", 1, 5)}@${str("xy", 1, 2)}.org`);
    const fps = new FingerprintSet();
    for (const v of values) fps.add(v);
    const set = new Set(values);
    let hits = 0;
    for (let n = 0; n < 300; n++) {
      const text = `<${str("ab.", 0, 3)}${values[n] as string}${str("o.g", 0, 3)}>`;
      for (let from = 0; from <= text.length; from++) {
        for (let to = from; to <= text.length; to++) {
          const want = set.has(text.slice(from, to));
          if (want) hits++;
          expect(fps.has(text, from, to)).toBe(want);
        }
      }
    }
    expect(hits).toBeGreaterThan(300);
  });

  test("any character: wide ones and the empty string are members like the others", () => {
    const fps = new FingerprintSet();
    for (const v of ["zoë@x.org", "名@x.org", "", "ann@x.org"]) expect(fps.add(v)).toBe(true);
    expect(fps.size).toBe(4);
    expect(fps.has("名@x.org")).toBe(true);
    expect(fps.has("名@x.orh")).toBe(false);
    expect(fps.has("")).toBe(true);
    expect(new FingerprintSet().has("a")).toBe(false);
  });
});

test("ReverseHash: pushing a range's characters from its end one by one is the hash of the range", () => {
  const fps = new FingerprintSet();
  fps.add("lee@client.org");
  fps.add("ann.lee@client.org");
  const text = "mail ann.lee@client.org";
  const h = new ReverseHash();
  h.pushRange(text, text.indexOf("@"), text.length);
  const found: string[] = [];
  let atAnn: number[] = [];
  for (let from = text.indexOf("@") - 1; from >= 0; from--) {
    h.push(text.charCodeAt(from));
    if (fps.hasHash(h)) found.push(text.slice(from));
    if (from === text.indexOf("ann")) atAnn = [h.hi, h.lo];
  }
  expect(found).toEqual(["lee@client.org", "ann.lee@client.org"]);
  const whole = new ReverseHash();
  whole.pushRange("ann.lee@client.org", 0, 18);
  expect([whole.hi, whole.lo]).toEqual(atAnn);
  whole.reset();
  whole.pushRange("ann.lee@client.orh", 0, 18);
  expect([whole.hi, whole.lo]).not.toEqual(atAnn);
});
