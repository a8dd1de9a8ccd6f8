/**
 * The needles' packed hash table (packed-table.ts): the same answers as a Set / a Map of lists
 * on thousands of random strings, duplicates stored once, keyed chains, wide characters left out.
 */
import { describe, expect, test } from "bun:test";
import { fnv1a, PackedTable } from "../../../src/db/anonymize/packed-table";
import { seededRandom } from "../../support/seeded-random";

const rand = seededRandom(18);
const str = (alphabet: string, min: number, max: number) =>
  Array.from(
    { length: min + Math.floor(rand() * (max - min + 1)) },
    () => alphabet[Math.floor(rand() * alphabet.length)],
  ).join("");

describe("PackedTable by whole string", () => {
  const values = Array.from({ length: 5000 }, () => `${str("abc.", 1, 6)}@${str("xy", 1, 3)}.org`);
  const table = new PackedTable(values);
  const set = new Set(values);

  test("holds each distinct value once and answers as a Set does, members and near misses", () => {
    expect(table.size).toBe(set.size);
    expect(table.skipped).toBe(0);
    for (const v of values) expect(table.has(v)).toBe(true);
    const probes = Array.from({ length: 5000 }, () => `${str("abc.", 0, 7)}@${str("xy", 1, 3)}.org`);
    for (const p of probes) expect(table.has(p)).toBe(set.has(p));
    expect(table.has("")).toBe(false);
  });

  test("strings with a character beyond one byte are left out and counted; Latin-1 ones are kept", () => {
    const t = new PackedTable(["zoë@x.org", "名@x.org", "ann@x.org"]);
    expect(t.size).toBe(2);
    expect(t.skipped).toBe(1);
    expect(t.has("zoë@x.org")).toBe(true);
    expect(t.has("名@x.org")).toBe(false);
  });

  test("an empty table answers no", () => {
    const t = new PackedTable([]);
    expect(t.size).toBe(0);
    expect(t.has("a")).toBe(false);
  });
});

describe("PackedTable.hasRange answers as has() of the cut-out range, without cutting", () => {
  test("by whole string: every range of texts that embed members and near misses", () => {
    const values = Array.from({ length: 3000 }, () => `${str("ab.", 1, 5)}@${str("xy", 1, 2)}.org`);
    const table = new PackedTable(values);
    const set = new Set(values);
    let hits = 0;
    for (let n = 0; n < 300; n++) {
      const text = `<${str("ab.", 0, 3)}${values[n] as string}${str("o.g", 0, 3)}>`;
      for (let from = 0; from <= text.length; from++) {
        for (let to = from; to <= text.length; to++) {
          const want = set.has(text.slice(from, to));
          if (want) hits++;
          expect(table.hasRange(text, from, to)).toBe(want);
        }
      }
    }
    // Not vacuous: the embedded members are found in place.
    expect(hits).toBeGreaterThanOrEqual(300);
  });

  test("keyed: a range shorter than the key is never a member; longer ones compare whole", () => {
    const t = new PackedTable(["3225123456", "5550100"], 7);
    const text = "+3225123456/5550100";
    expect(t.hasRange(text, 1, 11)).toBe(true);
    expect(t.hasRange(text, 12, 19)).toBe(true);
    expect(t.hasRange(text, 2, 11)).toBe(false);
    expect(t.hasRange(text, 13, 19)).toBe(false);
    expect(t.hasRange("5550100", 0, 7)).toBe(true);
  });
});

describe("PackedTable keyed by the last 7 characters", () => {
  const values = Array.from({ length: 4000 }, () => str("0123456789", 5, 12));
  const table = new PackedTable(values, 7);
  const byKey = new Map<string, Set<string>>();
  for (const v of values) {
    if (v.length < 7) continue;
    const k = v.slice(-7);
    byKey.set(k, (byKey.get(k) ?? new Set()).add(v));
  }

  test("forKey lists exactly the entries with that key; shorter strings are left out", () => {
    expect(table.skipped).toBe(values.filter((v) => v.length < 7).length);
    const probes = [
      ...values.filter((v) => v.length >= 7),
      ...Array.from({ length: 3000 }, () => str("0123456789", 7, 9)),
    ];
    for (const p of probes) {
      const got = new Set<string>();
      table.forKey(p, p.length - 7, p.length, (i) => got.add(table.at(i)));
      expect(got).toEqual(byKey.get(p.slice(-7)) ?? new Set());
    }
  });

  test("endsWithTail compares the entry's last n characters with the end of a prefix of the text", () => {
    const t = new PackedTable(["3225123456", "5550100"], 7);
    const found: string[] = [];
    const text = "0025123456789";
    t.forKey(text, 3, 10, (i) => {
      if (t.endsWithTail(text, 10, i, 8)) found.push(t.at(i));
    });
    expect(found).toEqual(["3225123456"]);
    // The whole entry when it is shorter than n; a text shorter than the tail never ends with it.
    expect(t.endsWithTail("x5550100", 8, 1, 8)).toBe(true);
    expect(t.endsWithTail("550100", 6, 1, 8)).toBe(false);
  });

  test("on bytes (the phone scan's digits): the same chains and tails as on strings", () => {
    const bytes = (s: string) => Uint8Array.from(s, (ch) => ch.charCodeAt(0));
    const probes = [...values, ...Array.from({ length: 3000 }, () => str("0123456789", 7, 12))];
    for (const p of probes) {
      if (p.length < 7) continue;
      const b = bytes(p);
      const onString: string[] = [];
      table.forKey(p, p.length - 7, p.length, (i) => {
        if (table.endsWithTail(p, p.length, i, 8)) onString.push(table.at(i));
      });
      const onBytes: string[] = [];
      for (let i = table.firstWithKeyBytes(b, b.length - 7, b.length); i >= 0; i = table.nextWithSameKey(i)) {
        if (table.endsWithTailBytes(b, b.length, i, 8)) onBytes.push(table.at(i));
      }
      expect([p, onBytes]).toEqual([p, onString]);
    }
  });
});

test("fnv1a is FNV-1a 32-bit over the range", () => {
  expect(fnv1a("a", 0, 1)).toBe(0xe40c292c);
  expect(fnv1a("xay", 1, 2)).toBe(0xe40c292c);
  expect(fnv1a("", 0, 0)).toBe(0x811c9dc5);
});

describe("PackedTable filled one string at a time (the needles as they are read)", () => {
  test("through many doublings and rehashes: the same answers as a Set, duplicates kept once", () => {
    // 18,000 adds with repeats interleaved: chars, entries and slots each double many times.
    const values = Array.from({ length: 12_000 }, () => `${str("abcde.", 1, 9)}@${str("xyz", 1, 4)}.org`);
    const table = new PackedTable();
    const set = new Set<string>();
    for (let i = 0; i < 18_000; i++) {
      const v = values[Math.floor(rand() * values.length)] as string;
      // Kept exactly when it is new.
      expect(table.add(v)).toBe(!set.has(v));
      set.add(v);
    }
    expect(table.size).toBe(set.size);
    for (const v of set) expect(table.has(v)).toBe(true);
    for (let n = 0; n < 5000; n++) {
      const p = `${str("abcde.", 0, 10)}@${str("xyz", 1, 4)}.org`;
      expect(table.has(p)).toBe(set.has(p));
    }
    // Built at once from the same strings: the same members.
    const once = new PackedTable([...set]);
    expect(once.size).toBe(table.size);
    for (const v of set) expect(once.has(v)).toBe(true);
  });

  test("keyed: chains survive the rehashes, forKey lists exactly the entries with that key", () => {
    const table = new PackedTable([], 7);
    const byKey = new Map<string, Set<string>>();
    // Few distinct keys, many entries each: long chains moved by every rehash.
    for (let i = 0; i < 20_000; i++) {
      const v = `${str("0123456789", 0, 5)}${String(1_000_000 + Math.floor(rand() * 300))}`;
      table.add(v);
      const k = v.slice(-7);
      byKey.set(k, (byKey.get(k) ?? new Set()).add(v));
    }
    expect(table.size).toBe([...byKey.values()].reduce((n, s) => n + s.size, 0));
    for (const [k, want] of byKey) {
      const got = new Set<string>();
      table.forKey(k, 0, 7, (i) => got.add(table.at(i)));
      expect(got).toEqual(want);
    }
  });

  test("add says whether the string was kept: left out (wide, shorter than the key) and repeats are not", () => {
    const t = new PackedTable([], 7);
    expect(t.add("5550100")).toBe(true);
    expect(t.add("5550100")).toBe(false);
    expect(t.add("555010")).toBe(false);
    expect(t.add("555０100")).toBe(false);
    expect([t.size, t.skipped]).toEqual([1, 2]);
  });
});

test("trim keeps every answer, and strings can still be added after it (also to an empty table)", () => {
  const values = Array.from({ length: 3000 }, () => str("0123456789", 7, 11));
  const t = new PackedTable(values.slice(0, 2000), 7);
  t.trim();
  for (const v of values.slice(0, 2000)) expect(t.has(v)).toBe(true);
  for (const v of values.slice(2000)) t.add(v);
  expect(t.size).toBe(new Set(values).size);
  for (const v of values) expect(t.has(v)).toBe(true);
  const empty = new PackedTable();
  empty.trim();
  expect(empty.add("a@b.c")).toBe(true);
  expect(empty.has("a@b.c")).toBe(true);
});
