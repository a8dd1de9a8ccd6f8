/**
 * The needles read in the daemon (needle-extract.ts, readPii) are exactly the needles of the SQL
 * they replace (needleSql):
 * - pure: what emailsOf/phonesOf extract from tricky values (mixed case, `mailto:`, `"Name"
 *   <addr>`, encodings in either case, phones in many formats);
 * - on PostgreSQL, in a C-locale database and a C.utf8 one: collectPii's needles equal the rows
 *   of needleSql over the same tables, for hand-picked tricky values and 4,000 seeded random ones
 *   (including İ and the Kelvin sign, which only PostgreSQL can lower-case as it does).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { eachBatch } from "../../../src/db/anonymize/cursor";
import { emailsOf, needsSqlLower, phonesOf } from "../../../src/db/anonymize/needle-extract";
import { collectPii, needleColumnsSql, needleSql, NEEDLE_SOURCES, SCAN_PARAMS } from "../../../src/db/backup/pii";
import { pgConnect, withTenant, type TenantLogin } from "../../../src/host/postgres";
import { createDatabase, createRole } from "../../../src/host/postgres/ops";
import { startPostgres, type TestPostgres } from "../../support/postgres";
import { seededRandom } from "../../support/seeded-random";

const all = (f: (v: string, add: (x: string) => void) => void, v: string) => {
  const out: string[] = [];
  f(v, (x) => out.push(x));
  return out;
};

describe("extraction in the daemon", () => {
  test.each([
    ["mixed case", "Ann.Lee@Client.Example.ORG", ["ann.lee@client.example.org"]],
    ["mailto", "mailto:bo@x.io?subject=hi", ["bo@x.io"]],
    ["display name", '"Lee, Ann" <ann@x.be>, bo@y.co.uk', ["ann@x.be", "bo@y.co.uk"]],
    [
      "encoded @ and .",
      "ann%40x%2Ebe / ann&#64;x&#46;be / ann&commat;x&period;be",
      ["ann@x.be", "ann@x.be", "ann@x.be"],
    ],
    // The SQL's markers are case-sensitive: an upper-case named entity alone is not undone.
    ["upper-case entity only", "ann&COMMAT;x.be", []],
    ["upper-case entity beside a marker", "ann&COMMAT;x.be &#64;", ["ann@x.be"]],
    ["a domain without a dot", "root@localhost", []],
    ["a local part longer than 64", `${"a".repeat(70)}@x.be`, [`${"a".repeat(64)}@x.be`]],
    ["no @ at all", "Ann Lee, Brussels", []],
  ])("e-mails: %s", (_what, value, want) => {
    expect(all(emailsOf, value)).toEqual(want);
  });

  test.each([
    ["international", "+32 (0)2 512.34.56", ["32025123456"]],
    ["slashes and dashes", "02/512-34-56", ["025123456"]],
    // One run of digits and separators is one needle, as in the SQL (the matcher finds its end).
    ["two numbers in one run", "02 512 34 56 / 0470 12 34 56", ["0251234560470123456"]],
    ["two runs", "02 512 34 56; 0470 12 34 56", ["025123456", "0470123456"]],
    ["glued to letters", "tel0470123456 0470123456x", []],
    ["too short", "512 34", []],
    ["digits only", "3225123456", ["3225123456"]],
  ])("phones: %s", (_what, value, want) => {
    expect(all(phonesOf, value)).toEqual(want);
  });

  test("only İ and the Kelvin sign need PostgreSQL's lower()", () => {
    expect(needsSqlLower("İnfo@x.be")).toBe(true);
    expect(needsSqlLower("\u212Aate@x.be")).toBe(true);
    expect(needsSqlLower("José <JOSÉ@x.be> Ωmega ß")).toBe(false);
  });

  test("the columns are read as they are, quoted", () => {
    expect(needleColumnsSql("res_partner", ["email", "phone"])).toBe(
      `SELECT x."email"::text, x."phone"::text FROM public."res_partner" AS x`,
    );
  });
});

const rand = seededRandom(1414);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

/** Pieces that make addresses, phones and near misses when glued at random. */
const PIECES = [
  "ann",
  "Ann.Lee",
  "BO",
  "o'brien",
  "x+tag",
  "İnfo",
  "\u212Aate",
  "José",
  "@",
  "%40",
  "%2e",
  "%2E",
  "&#64;",
  "&#064;",
  "&#x40;",
  "&#X40;",
  "&commat;",
  "&COMMAT;",
  "&period;",
  "&#46;",
  "\\u0040",
  "\\U0040",
  "\\u002e",
  ".",
  "example",
  "Client.BE",
  "co.uk",
  "mailto:",
  '"Lee, Ann" <',
  ">",
  ", ",
  " ",
  "\n",
  "+32",
  "(0)",
  "2",
  "512",
  "34",
  "56",
  "0470",
  "123456",
  "-",
  "/",
  "x",
  "555-0100",
];

function randomValue(): string | null {
  if (rand() < 0.05) return null;
  return Array.from({ length: 1 + Math.floor(rand() * 9) }, () => pick(PIECES)).join("");
}

const TRICKY = [
  '"Ann Lee" <ANN.LEE@CLIENT.EXAMPLE.ORG>',
  "mailto:Bo@X.io",
  "İnfo@Example.com",
  "\u212Aate@example.com",
  "ann&COMMAT;x.be",
  "ann&COMMAT;x.be &#64;",
  "+32 (0)2 512.34.56",
  "02/512-34-56 / 0470 12 34 56",
  "tel0470123456",
];

let pg: TestPostgres;
let admin: SQL;
const roleName = "needles_src";
const password = "pw-needles-src";
const databases = ["needles_c", "needles_utf8"];
const login = (database: string): TenantLogin => ({ host: pg.host, port: pg.port, user: roleName, password, database });
const COLUMNS = { res_partner: NEEDLE_SOURCES.res_partner, mail_message: NEEDLE_SOURCES.mail_message };

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  admin = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
  await createRole(admin, roleName, password);
  await createDatabase(admin, "needles_c", roleName);
  await admin.unsafe(
    `CREATE DATABASE needles_utf8 WITH OWNER ${roleName} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.utf8' LC_CTYPE 'C.utf8'`,
  );
  const rows = [
    ...TRICKY.map((t) => [t, t, t, t, t]),
    ...Array.from({ length: 4000 }, () => [0, 1, 2, 3, 4].map(randomValue)),
  ];
  for (const database of databases) {
    const sql = pgConnect(login(database));
    try {
      for (const [table, src] of Object.entries(COLUMNS)) {
        const cols = [...(src.emails ?? []), ...(src.phones ?? [])];
        await sql.unsafe(
          `CREATE TABLE ${table} (id serial PRIMARY KEY, ${cols.map((c) => `${c} varchar`).join(", ")})`,
        );
        const records = rows.map((r) => Object.fromEntries(cols.map((c, i) => [c, r[i] ?? null])));
        await sql.unsafe(
          `INSERT INTO ${table} (${cols.join(", ")}) SELECT * FROM json_to_recordset($1::text::json) AS r(${cols.map((c) => `${c} varchar`).join(", ")})`,
          [JSON.stringify(records)],
        );
      }
    } finally {
      await sql.close();
    }
  }
}, 300_000);

afterAll(async () => {
  await admin?.close();
  await pg?.stop();
}, 120_000);

/** The definition: needleSql's rows, through a cursor. */
async function sqlNeedles(sql: SQL): Promise<{ emails: string[]; phones: string[] }> {
  const emails = new Set<string>();
  const phones = new Set<string>();
  await sql.begin(async (tx) => {
    for (const [table, src] of Object.entries(COLUMNS)) {
      const select = needleSql(table, src.emails ?? [], src.phones ?? []);
      await eachBatch(tx, { name: "ref", select, params: [...SCAN_PARAMS], batch: 500 }, (rows) => {
        for (const [kind, v] of rows as [string, string][]) (kind === "email" ? emails : phones).add(v);
      });
    }
  });
  return { emails: [...emails].sort(), phones: [...phones].sort() };
}

describe.each(databases)("collectPii against needleSql, on PostgreSQL (%s)", (database) => {
  test("the same e-mails and phones, tricky values and 4,000 random ones", async () => {
    const want = await withTenant(login(database), sqlNeedles);
    const got = await withTenant(login(database), collectPii);
    expect({ emails: got.emails, phones: got.phones }).toEqual(want);
    // Not trivially empty, and the values only PostgreSQL can lower-case went through it.
    expect(want.emails.length).toBeGreaterThan(200);
    expect(want.phones.length).toBeGreaterThan(100);
    expect(got.emails).toContain("ann.lee@client.example.org");
    expect(got.emails.some((e) => e.endsWith("nfo@example.com"))).toBe(true);
    expect(got.sources).toEqual([
      "res_partner.email",
      "res_partner.email_normalized",
      "res_partner.phone",
      "res_partner.mobile",
      "res_partner.phone_sanitized",
      "mail_message.email_from",
      "mail_message.reply_to",
    ]);
  }, 120_000);
});
