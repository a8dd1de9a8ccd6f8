/**
 * The PII matcher's encodings (what the filestore scan uses, and what the SQL scan mirrors) and
 * the exact SQL the database scan runs.
 */
import { describe, expect, test } from "bun:test";
import { activeSql } from "../../../src/db/anonymize/check-state";
import { describeHit } from "../../../src/db/anonymize/check";
import { maskValue, NeedleMatcher, normalizeForEmails, phoneKeys } from "../../../src/db/anonymize/pii-match";
import {
  byteaScanSql,
  byteaText,
  needleSql,
  quoteName,
  rowScanSql,
  scanSql,
  textScanSql,
} from "../../../src/db/backup/pii";

const matcher = new NeedleMatcher({
  emails: ["ann.lee@client.example.org", "bo@x.io"],
  phones: ["32470123456", "5550100"],
});

function found(text: string): { emails: string[]; phones: string[] } {
  const f = { emails: new Set<string>(), phones: new Set<string>() };
  matcher.scan(text, f);
  return { emails: [...f.emails].sort(), phones: [...f.phones].sort() };
}

describe("e-mail encodings", () => {
  test.each([
    ["plain", "write to ann.lee@client.example.org today"],
    ["upper case", "ANN.LEE@CLIENT.EXAMPLE.ORG"],
    ["mailto", '<a href="mailto:ann.lee@client.example.org">x</a>'],
    ["display name", '"Ann Lee" <ann.lee@client.example.org>'],
    ["decimal entity", "ann.lee&#64;client.example.org"],
    ["padded decimal entity", "ann.lee&#064;client&#46;example&#46;org"],
    ["hex entity", "ann.lee&#x40;client.example.org"],
    ["named entity", "ann.lee&commat;client&period;example.org"],
    ["url-encoded", "mailto%3aann.lee%40client%2Eexample.org"],
    ["json escape", '{"to": "ann.lee\\u0040client.example.org"}'],
    ["file name with extension", "invoice_ann.lee@client.example.org.pdf"],
    ["glued prefix", "xxann.lee@client.example.org"],
  ])("%s", (_what, text) => {
    expect(found(text).emails).toEqual(["ann.lee@client.example.org"]);
  });

  test("another address of the same domain, a sub-domain or a longer one is not the source's", () => {
    expect(
      found("ann.lea@client.example.org ann.lee@sub.client.example.org ann.lee@client.example.organic").emails,
    ).toEqual([]);
  });

  test("normalization lower-cases and undoes the encodings of @ and .", () => {
    expect(normalizeForEmails("A&#64;B&#x2E;C %40 &commat; \\u0040")).toBe("a@b.c @ @ @");
  });
});

describe("phone formatting", () => {
  test.each([
    ["international", "+32 470 12 34 56"],
    ["national with trunk 0", "0470/12.34.56"],
    ["digits only", "32470123456"],
    ["parentheses and dashes", "(+32) 470-123-456"],
    ["next to another number", "1234567 0470123456"],
  ])("%s", (_what, text) => {
    expect(found(text).phones).toEqual(["70123456"]);
  });

  test("digits glued to letters (hex, hashes, identifiers) are not a phone", () => {
    expect(found("sha a32470123456b, id X0470123456, 0470123456z").phones).toEqual([]);
    expect(found("(0470123456)").phones).toEqual(["70123456"]);
  });

  test("a short number needs all its digits", () => {
    expect(found("call 555-0100").phones).toEqual(["5550100"]);
    expect(found("call 555-010").phones).toEqual([]);
  });

  test("a landline in national and international form is the same number", () => {
    const m = new NeedleMatcher({ emails: [], phones: ["3225123456"] });
    const f = { emails: new Set<string>(), phones: new Set<string>() };
    m.scan("tel. 02/512.34.56", f);
    expect([...f.phones]).toEqual(["25123456"]);
  });

  test("the last 8 digits must all be there", () => {
    expect(found("+32 470 12 34 57").phones).toEqual([]);
  });

  test("a number must end where a digit group ends: a fake in a fictional range is not a source number", () => {
    const m = new NeedleMatcher({ emails: [], phones: ["32470090001"] });
    const f = { emails: new Set<string>(), phones: new Set<string>() };
    m.scan("+44 7700 900012", f);
    expect([...f.phones]).toEqual([]);
    m.scan("+32 470 09 00 01 / 02 512 34 56", f);
    expect([...f.phones]).toEqual(["70090001"]);
  });

  test("keys: core = last 8 digits, key = its last 7", () => {
    expect(phoneKeys("32470123456")).toEqual({ core: "70123456", key: "0123456" });
    expect(phoneKeys("5550100")).toEqual({ core: "5550100", key: "5550100" });
  });
});

test("a matcher filled value by value (as the needles are read) finds exactly what one built at once finds", () => {
  const emails = Array.from({ length: 3000 }, (_, i) => `p${i}.x@c${i % 37}.example.org`);
  const phones = Array.from({ length: 3000 }, (_, i) => String(32470000000 + i * 13));
  const once = new NeedleMatcher({ emails, phones });
  const grown = new NeedleMatcher();
  // Repeats, interleaved kinds: as readPii hands them over.
  for (let i = 0; i < 3000; i++) {
    grown.addEmail(emails[i] as string);
    grown.addPhone(phones[i] as string);
    grown.addEmail(emails[(i * 7) % 3000] as string);
  }
  expect([grown.emailCount, grown.phoneCount]).toEqual([3000, 3000]);
  expect(grown.size).toBe(once.size);
  let hits = 0;
  for (let i = 0; i < 3000; i += 3) {
    const p = phones[i] as string;
    const text = `Mail "P" <${(emails[i] as string).toUpperCase()}>, mailto:${emails[(i + 1) % 3000]}, tel +${p.slice(0, 2)} ${p.slice(2, 5)} ${p.slice(5)}, near miss q${i}.x@c${i % 37}.example.org / 3247${i}`;
    const a = { emails: new Set<string>(), phones: new Set<string>() };
    const b = { emails: new Set<string>(), phones: new Set<string>() };
    once.scan(text, a);
    grown.scan(text, b);
    expect(b).toEqual(a);
    hits += a.emails.size + a.phones.size;
  }
  // Not vacuous: both addresses and the number of each text are found.
  expect(hits).toBe(3 * 1000);
});

test("masked samples show three characters", () => {
  expect(maskValue("ann.lee@client.example.org")).toBe("ann***");
  expect(describeHit({ table: "s2.notes", column: "body", kind: "phone", sample: "701***", count: 2 })).toBe(
    "s2.notes.body: 2 phones (e.g. 701***)",
  );
});

describe("SQL", () => {
  test("quoteName quotes any catalog name exactly", () => {
    expect(quoteName('Weird "Name"')).toBe('"Weird ""Name"""');
    expect(() => quoteName("a\0b")).toThrow("NUL");
  });

  test("bytea text: escaped, NULs dropped", () => {
    expect(byteaText("x.b")).toBe("replace(encode(x.b, 'escape'), '\\000', '')");
  });

  test("one pass per table over every text-like column", () => {
    const sql = textScanSql('"public"."res_partner"', ["email", "Odd"]);
    expect(sql).toBe(scanSql('"public"."res_partner" AS x', ['x."email"::text', 'x."Odd"::text']));
    expect(
      sql,
    ).toBe(`SELECT d.c, d.kind, count(d.needle)::int AS n, min(d.needle) AS sample, coalesce(sum(d.bytes), 0)::bigint AS bytes
  FROM (SELECT v.c, f.kind, f.needle, sum(f.bytes) AS bytes
  FROM "public"."res_partner" AS x
  CROSS JOIN LATERAL (VALUES (0, x."email"::text), (1, x."Odd"::text)) AS v(c, s)
  CROSS JOIN LATERAL (
    SELECT 'scanned'::text AS kind, NULL::text AS needle, octet_length(v.s)::bigint AS bytes
    UNION ALL SELECT 'email', e.needle, 0 FROM (SELECT n.v AS needle FROM regexp_matches(CASE WHEN strpos(v.s, '%40') > 0 OR strpos(v.s, '%2e') > 0 OR strpos(v.s, '%2E') > 0 OR strpos(v.s, '&#') > 0 OR strpos(v.s, '&commat;') > 0 OR strpos(v.s, '&period;') > 0 OR strpos(v.s, '\\u00') > 0 THEN regexp_replace(regexp_replace(lower(v.s), $3, '@', 'g'), $4, '.', 'g') ELSE lower(v.s) END, $1, 'g') AS m
    CROSS JOIN LATERAL (SELECT right(m[1], 64) AS l, string_to_array(m[2], '.') AS p) AS t
    CROSS JOIN LATERAL generate_series(1, least(3, length(t.l))) AS i
    CROSS JOIN LATERAL generate_series(2, cardinality(t.p)) AS k
    CROSS JOIN LATERAL (SELECT e.v, e.loc FROM pg_temp.odooops_pii_email e
      WHERE e.key = right(t.l, i) || '@' || array_to_string(t.p[1:k], '.') OFFSET 0) AS n
    WHERE (strpos(v.s, '@') > 0 OR strpos(v.s, '%40') > 0 OR strpos(v.s, '&#') > 0 OR strpos(v.s, '&commat;') > 0 OR strpos(v.s, '\\u0040') > 0) AND right(t.l, length(n.loc)) = n.loc) AS e
    UNION ALL SELECT 'phone', p.needle, 0 FROM (SELECT n.core AS needle FROM regexp_matches(v.s, $2, 'g') AS m
    CROSS JOIN LATERAL (SELECT regexp_split_to_array(m[1], '[^0-9]+') AS g) AS t
    CROSS JOIN LATERAL generate_series(1, cardinality(t.g)) AS j
    CROSS JOIN LATERAL (SELECT array_to_string(t.g[1:j], '') AS d) AS p
    JOIN pg_temp.odooops_pii_phone n ON n.key = right(p.d, 7) AND right(p.d, length(n.core)) = n.core) AS p
  ) AS f
  WHERE v.s IS NOT NULL
  GROUP BY v.c, f.kind, f.needle) AS d
  GROUP BY d.c, d.kind`);
  });

  test("one expression per row first: the row's text-like values joined with newlines, bytes without them", () => {
    expect(
      rowScanSql('"public"."res_partner"', ["email", "Odd"]),
    ).toBe(`SELECT count(*) FILTER (WHERE EXISTS (SELECT n.v AS needle FROM regexp_matches(CASE WHEN strpos(r.s, '%40') > 0 OR strpos(r.s, '%2e') > 0 OR strpos(r.s, '%2E') > 0 OR strpos(r.s, '&#') > 0 OR strpos(r.s, '&commat;') > 0 OR strpos(r.s, '&period;') > 0 OR strpos(r.s, '\\u00') > 0 THEN regexp_replace(regexp_replace(lower(r.s), $3, '@', 'g'), $4, '.', 'g') ELSE lower(r.s) END, $1, 'g') AS m
    CROSS JOIN LATERAL (SELECT right(m[1], 64) AS l, string_to_array(m[2], '.') AS p) AS t
    CROSS JOIN LATERAL generate_series(1, least(3, length(t.l))) AS i
    CROSS JOIN LATERAL generate_series(2, cardinality(t.p)) AS k
    CROSS JOIN LATERAL (SELECT e.v, e.loc FROM pg_temp.odooops_pii_email e
      WHERE e.key = right(t.l, i) || '@' || array_to_string(t.p[1:k], '.') OFFSET 0) AS n
    WHERE (strpos(r.s, '@') > 0 OR strpos(r.s, '%40') > 0 OR strpos(r.s, '&#') > 0 OR strpos(r.s, '&commat;') > 0 OR strpos(r.s, '\\u0040') > 0) AND right(t.l, length(n.loc)) = n.loc) OR EXISTS (SELECT n.core AS needle FROM regexp_matches(r.s, $2, 'g') AS m
    CROSS JOIN LATERAL (SELECT regexp_split_to_array(m[1], '[^0-9]+') AS g) AS t
    CROSS JOIN LATERAL generate_series(1, cardinality(t.g)) AS j
    CROSS JOIN LATERAL (SELECT array_to_string(t.g[1:j], '') AS d) AS p
    JOIN pg_temp.odooops_pii_phone n ON n.key = right(p.d, 7) AND right(p.d, length(n.core)) = n.core))::int AS hits,
    coalesce(sum(octet_length(r.s) - greatest(r.k - 1, 0)), 0)::bigint AS bytes
  FROM (SELECT concat_ws(E'\\n', x."email"::text, x."Odd"::text) AS s, num_nonnulls(x."email"::text, x."Odd"::text) AS k FROM "public"."res_partner" AS x OFFSET 0) AS r`);
  });

  test("a bytea column is read in 4 MiB slices overlapping by 512 bytes", () => {
    expect(byteaScanSql('"public"."ir_attachment"', "db_datas")).toBe(
      scanSql(
        `"public"."ir_attachment" AS x CROSS JOIN LATERAL generate_series(0, (octet_length(x."db_datas") - 1) / 4194304) AS g(i)`,
        [byteaText(`substring(x."db_datas" FROM g.i * 4194304 + 1 FOR 4194816)`)],
      ),
    );
  });

  test("needles of one source table: addresses and phone digits, all parameters typed", () => {
    expect(
      needleSql("res_partner", ["email"], ["phone", "mobile"]),
    ).toBe(`WITH params AS (SELECT $1::text, $2::text, $3::text, $4::text)
SELECT DISTINCT 'email' AS kind, right(m[1], 64) || '@' || m[2] AS v
      FROM public."res_partner" AS x CROSS JOIN LATERAL (VALUES (x."email"::text)) AS v(s)
      CROSS JOIN LATERAL regexp_matches(CASE WHEN strpos(v.s, '%40') > 0 OR strpos(v.s, '%2e') > 0 OR strpos(v.s, '%2E') > 0 OR strpos(v.s, '&#') > 0 OR strpos(v.s, '&commat;') > 0 OR strpos(v.s, '&period;') > 0 OR strpos(v.s, '\\u00') > 0 THEN regexp_replace(regexp_replace(lower(v.s), $3, '@', 'g'), $4, '.', 'g') ELSE lower(v.s) END, $1, 'g') AS m
      WHERE strpos(v.s, '@') > 0 OR strpos(v.s, '%40') > 0 OR strpos(v.s, '&#') > 0 OR strpos(v.s, '&commat;') > 0 OR strpos(v.s, '\\u0040') > 0
UNION
SELECT DISTINCT 'phone' AS kind, d AS v
      FROM public."res_partner" AS x CROSS JOIN LATERAL (VALUES (x."phone"::text), (x."mobile"::text)) AS v(s)
      CROSS JOIN LATERAL regexp_matches(v.s, $2, 'g') AS m
      CROSS JOIN LATERAL regexp_replace(m[1], '[^0-9]', '', 'g') AS d
      WHERE length(d) >= 7`);
  });

  test("active servers: Odoo's dummy on host invalid does not count", () => {
    expect(activeSql("ir_mail_server")).toBe(
      "SELECT count(*)::int AS n FROM public.ir_mail_server WHERE active AND NOT (smtp_host = 'invalid' AND coalesce(smtp_user, '') = '' AND coalesce(smtp_pass, '') = '')",
    );
    expect(activeSql("ir_cron")).toBe("SELECT count(*)::int AS n FROM public.ir_cron WHERE active");
  });
});
