/** The SQL of each `{ fake: <kind> }` rule, exactly (see src/db/anonymize/fake.ts). */
import { describe, expect, test } from "bun:test";
import { FAKE_KINDS, fakeSql, type FakeKind } from "../../../src/db/anonymize/fake";
import { loadAnonymizeRules } from "../../../src/db/backup/anonymize";
import { Invalid } from "../../../src/errors";

const c = { col: `"v"`, nullable: true, id: `"id"` };
const K = "current_setting('odooops.anon_key')";
const word = `md5(${K} || lower(trim("v"::text)))`;
const keep = (e: string) => `CASE WHEN "v" IS NULL OR "v"::text = '' THEN "v"::text ELSE ${e} END`;
const dig = (h: string, f: number, n: number) => `translate(substr(${h}, ${f}, ${n}), 'abcdef', '012345')`;
const phoneHash = `md5(${K} || regexp_replace("v"::text, '[^0-9]', '', 'g'))`;

const expected: Record<FakeKind, string> = {
  email: keep(`'u' || substr(${word}, 1, 16) || '@example.invalid'`),
  login: keep(`CASE WHEN "v"::text LIKE '%@%' THEN 'user-' || "id"::text || '@example.invalid' ELSE "v"::text END`),
  phone: keep(`'+44 7700 900' || ${dig(phoneHash, 1, 3)}`),
  name: keep(`'Person ' || translate(upper(substr(${word}, 1, 8)), '0123456789', 'GHJKMNPQRS')`),
  company: keep(`'Company ' || translate(upper(substr(${word}, 1, 8)), '0123456789', 'GHJKMNPQRS')`),
  street: keep(`${dig(word, 1, 3)} || ' Example Street'`),
  city: keep(`'City ' || upper(substr(${word}, 1, 6))`),
  zip: keep(dig(word, 1, 5)),
  vat: keep(`'XX' || ${dig(word, 1, 10)}`),
  url: keep(`'https://example.invalid/' || substr(${word}, 1, 12)`),
  iban: keep(`'XX00' || ${dig(word, 1, 16)}`),
  ip: keep(`'192.0.2.' || (1 + ('x' || substr(${word}, 1, 2))::bit(8)::int % 254)::text`),
  text: keep(`'anonymized'`),
  html: keep(`'<p>anonymized</p>'`),
  secret: "NULL",
};

describe("fakeSql", () => {
  for (const kind of FAKE_KINDS) {
    test(`${kind}`, () => {
      expect(fakeSql(kind, c)).toBe(expected[kind]);
    });
  }

  test("secret on a NOT NULL column: a random value keyed per copy, '' stays", () => {
    expect(fakeSql("secret", { ...c, nullable: false })).toBe(keep(`md5(${K} || random()::text)`));
  });

  test("rules accept { fake: kind } and refuse an unknown kind with the list", () => {
    const rules = loadAnonymizeRules("tables:\n  res_partner:\n    columns:\n      email: { fake: email }\n");
    expect(rules.tables.res_partner?.columns.email).toEqual({ fake: "email" });
    expect(() => loadAnonymizeRules("tables:\n  res_partner:\n    columns:\n      email: { fake: ssn }\n")).toThrow(
      Invalid,
    );
  });
});
