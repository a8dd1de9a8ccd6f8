/**
 * The fast database scan (check-db.ts): matching in JS through NeedleMatcher, per value.
 * - Pure: on seeded random text with planted needles (every spelling the check promises to see,
 *   and near misses), NeedleMatcher finds exactly what the exhaustive definition finds — every
 *   needle tried against every token, no keys, no lookups.
 * - Against PostgreSQL: on a table of such text (text, varchar, jsonb, bytea), scanCopy reports
 *   the same columns, kinds, counts and samples as the SQL scan (db/backup/pii.ts scanDatabase),
 *   and the same rows and bytes; the upper-case entity the SQL scan's gates let through is found.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import {
  type BlockRange,
  blockRanges,
  byteaSlicesSql,
  CHUNK_BYTES,
  scanCopy,
  textColumnsSql,
} from "../../../src/db/anonymize/check-db";
import {
  EMAIL_RE,
  MAX_LOCAL,
  NeedleMatcher,
  normalizeForEmails,
  PHONE_CORE_DIGITS,
  PHONE_RE,
} from "../../../src/db/anonymize/pii-match";
import { scanDatabase, type PiiHit } from "../../../src/db/backup/pii";
import { pgConnect, withTenant, type TenantLogin } from "../../../src/host/postgres";
import { createDatabase, createRole } from "../../../src/host/postgres/ops";
import { startPostgres, type TestPostgres } from "../../support/postgres";
import type { CopyTuple } from "../../../src/db/anonymize/copy-binary";
import { CopySession } from "../../../src/db/anonymize/copy-session";
import { seededRandom } from "../../support/seeded-random";

const rand = seededRandom(14);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const word = (n: number, alphabet = "abcdefghijklmnopqrstuvwxyz") =>
  Array.from({ length: n }, () => pick([...alphabet])).join("");
const digits = (n: number) => word(n, "0123456789");

const EMAILS = Array.from(
  { length: 60 },
  (_, i) => `${word(1 + (i % 9))}.${word(3)}@${word(4)}.${pick(["org", "be", "co.uk"])}`,
);
const PHONES = Array.from({ length: 60 }, (_, i) => (i % 5 === 0 ? digits(7) : `32${digits(9)}`));

/** A source value spelled one of the ways the check promises to see, or a near miss. */
function spelled(): string {
  if (rand() < 0.5) {
    const e = pick(EMAILS);
    const [local = "", domain = ""] = e.split("@");
    const forms = [
      e,
      e.toUpperCase(),
      `mailto:${e}`,
      `"${word(5)}" <${e}>`,
      `${word(2)}${e}`,
      `${local}%40${domain}`,
      `${local}&#64;${domain}`,
      `${local}&#x40;${domain.replace(".", "&#46;")}`,
      `${local}&commat;${domain}`,
      `${local}\\u0040${domain}`,
      `invoice_${e}.pdf`,
      `${local}@${domain}.evil`,
      `${local.slice(1)}@${domain}`,
      `${local}@x${domain}`,
      `${local}@${domain.split(".")[0]}`,
    ];
    return pick(forms);
  }
  const p = pick(PHONES);
  const core = p.slice(-PHONE_CORE_DIGITS);
  const forms = [
    p,
    `+${p}`,
    `0${core}`,
    `${core.slice(0, 2)} ${core.slice(2, 5)} ${core.slice(5)}`,
    `(${core.slice(0, 3)}) ${core.slice(3, 6)}.${core.slice(6)}`,
    `${core.slice(0, 4)}/${core.slice(4)} / 0470 12 34 56`,
    `x${p}`,
    `${p}7`,
    `${core.slice(1)}`,
    `${core.slice(0, 4)}-${core.slice(4)}a`,
  ];
  return pick(forms);
}

/** Random text with planted values, separators and markup between them. */
function randomText(): string {
  const parts: string[] = [];
  const n = 1 + Math.floor(rand() * 6);
  for (let i = 0; i < n; i++) {
    parts.push(
      pick([
        () => spelled(),
        () => word(1 + Math.floor(rand() * 8)),
        () => digits(1 + Math.floor(rand() * 12)),
        () => pick([" ", "\n", ", ", "<p>", "</p>", "; ", "-", ".", "@", "%", "&"]),
      ])(),
    );
  }
  return parts.join(pick(["", " ", "\n", "<br/>"]));
}

/** The definition, exhaustively: every needle against every token. */
function exhaustive(text: string): { emails: string[]; phones: string[] } {
  const emails = new Set<string>();
  const phones = new Set<string>();
  for (const m of normalizeForEmails(text).matchAll(new RegExp(EMAIL_RE, "g"))) {
    const local = (m[1] ?? "").slice(-MAX_LOCAL);
    const labels = (m[2] ?? "").split(".");
    for (const e of EMAILS) {
      const [nl = "", nd = ""] = e.split("@");
      const domainOk = labels.some((_, k) => k >= 1 && labels.slice(0, k + 1).join(".") === nd);
      if (nl.length > 0 && local.endsWith(nl) && domainOk) emails.add(e);
    }
  }
  for (const m of text.matchAll(new RegExp(PHONE_RE, "g"))) {
    const groups = m[0].split(/[^0-9]+/);
    for (let j = 1; j <= groups.length; j++) {
      const d = groups.slice(0, j).join("");
      for (const p of PHONES) if (d.endsWith(p.slice(-PHONE_CORE_DIGITS))) phones.add(p.slice(-PHONE_CORE_DIGITS));
    }
  }
  return { emails: [...emails].sort(), phones: [...phones].sort() };
}

const matcher = new NeedleMatcher({ emails: EMAILS, phones: PHONES });
function fast(text: string): { emails: string[]; phones: string[] } {
  const f = { emails: new Set<string>(), phones: new Set<string>() };
  matcher.scan(text, f);
  return { emails: [...f.emails].sort(), phones: [...f.phones].sort() };
}

const TEXTS = Array.from({ length: 3000 }, randomText);

describe("NeedleMatcher against the exhaustive definition", () => {
  test("same findings on 3,000 random texts with planted needles and near misses", () => {
    let withFinding = 0;
    for (const t of TEXTS) {
      const want = exhaustive(t);
      expect({ text: t, ...fast(t) }).toEqual({ text: t, ...want });
      if (want.emails.length + want.phones.length > 0) withFinding++;
    }
    // The data is not trivially clean, nor trivially dirty.
    expect(withFinding).toBeGreaterThan(TEXTS.length / 5);
    expect(withFinding).toBeLessThan(TEXTS.length);
  });
});

describe("block ranges", () => {
  test("one read up to CHUNK_BYTES; beyond, ranges that cover every block once, the last open-ended", () => {
    expect(blockRanges(0, 8192)).toEqual([null]);
    expect(blockRanges(CHUNK_BYTES / 8192, 8192)).toEqual([null]);
    const rs = blockRanges(20, 8192, 3 * 8192) as BlockRange[];
    expect(rs).toEqual([
      { from: 0, to: 2 },
      { from: 2, to: 5 },
      { from: 5, to: 8 },
      { from: 8, to: 11 },
      { from: 11, to: 14 },
      { from: 14, to: 17 },
      { from: 17, to: null },
    ]);
  });

  test("a range is a TID range of the relation", () => {
    expect(textColumnsSql('"public"."t"', ["a"], { from: 5, to: 8 })).toBe(
      `SELECT v.c0
  FROM (SELECT x."a"::text AS c0 FROM "public"."t" AS x WHERE x.ctid >= '(5,0)'::tid AND x.ctid < '(8,0)'::tid OFFSET 0) AS v`,
    );
    expect(byteaSlicesSql('"public"."t"', "d", { from: 8, to: null })).toEndWith(
      "AS g(i) WHERE x.ctid >= '(8,0)'::tid",
    );
  });
});

describe("the COPYs' SQL", () => {
  test("text-like columns read as text, every value sent (no gate in SQL: the byte gates skip for less); bytea in overlapping 4 MiB slices, escaped, NULs dropped", () => {
    expect(textColumnsSql('"public"."t"', ["a", 'O"dd'])).toBe(
      `SELECT v.c0, v.c1
  FROM (SELECT x."a"::text AS c0, x."O""dd"::text AS c1 FROM "public"."t" AS x OFFSET 0) AS v`,
    );
    expect(byteaSlicesSql('"public"."t"', "d")).toBe(
      `SELECT replace(encode(substring(x."d" FROM g.i * 4194304 + 1 FOR 4194816), 'escape'), '\\000', '')
  FROM "public"."t" AS x CROSS JOIN LATERAL generate_series(0, (octet_length(x."d") - 1) / 4194304) AS g(i)`,
    );
  });
});

let pg: TestPostgres;
let admin: SQL;
const who = { user: "scan_copy", password: "pw-scan-copy", database: "scan_copy" };
const login = (): TenantLogin => ({ host: pg.host, port: pg.port, ...who });

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  admin = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
  await createRole(admin, who.user, who.password);
  await createDatabase(admin, who.database, who.user);
  const sql = pgConnect({ host: pg.host, port: pg.port, ...who });
  try {
    await sql.unsafe(`CREATE TABLE notes (id serial PRIMARY KEY, a text, b varchar, c jsonb, d bytea);
      CREATE TABLE clean (id serial PRIMARY KEY, t text); INSERT INTO clean (t) VALUES ('nothing 12 34'), (NULL)`);
    for (let i = 0; i < TEXTS.length; i += 4) {
      const [a, b, c, d] = TEXTS.slice(i, i + 4);
      await sql`INSERT INTO notes (a, b, c, d) VALUES (${a ?? null}, ${b ?? null}, ${JSON.stringify({ note: c ?? "" })}::jsonb, ${Buffer.from(d ?? "", "utf8")})`;
    }
  } finally {
    await sql.close();
  }
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await pg?.stop();
}, 120_000);

const order = (hits: PiiHit[]) =>
  [...hits].sort((x, y) => `${x.column}.${x.kind}`.localeCompare(`${y.column}.${y.kind}`));

describe("scanCopy against the SQL scan, on PostgreSQL", () => {
  test("same hits (column, kind, count, sample), rows and bytes; one session or three", async () => {
    const needles = { emails: EMAILS, phones: PHONES };
    const sqlScan = await withTenant(login(), (sql) => scanDatabase(sql, needles));
    expect(sqlScan.hits.length).toBe(8);
    for (const jobs of [1, 3]) {
      const fastScan = await scanCopy(login(), needles, { jobs });
      expect(order(fastScan.hits)).toEqual(order(sqlScan.hits));
      expect(fastScan.stats).toEqual(sqlScan.stats);
    }
  }, 120_000);

  test("read in block ranges of 2 blocks by three sessions: the same hits, rows and bytes", async () => {
    const needles = { emails: EMAILS, phones: PHONES };
    const blocks = await withTenant(login(), async (sql) => {
      const [r] = await sql<{ n: string }[]>`SELECT (pg_relation_size('public.notes') / 8192)::text AS n`;
      return Number(r?.n);
    });
    // More than a few ranges, or this would not test them.
    expect(blocks).toBeGreaterThan(6);
    const whole = await scanCopy(login(), needles, { jobs: 1 });
    const ranged = await scanCopy(login(), needles, { jobs: 3, chunkBytes: 2 * 8192 });
    expect(order(ranged.hits)).toEqual(order(whole.hits));
    expect(ranged.stats).toEqual(whole.stats);
    expect(whole.hits.length).toBeGreaterThan(0);
  }, 120_000);

  test("an excluded column is not read; the upper-case &COMMAT; the SQL gates miss is found", async () => {
    const [first = ""] = EMAILS;
    const sql = pgConnect({ host: pg.host, port: pg.port, ...who });
    try {
      await sql`INSERT INTO clean (t) VALUES (${first.replace("@", "&COMMAT;")})`;
      const scan = await scanCopy(
        login(),
        { emails: EMAILS, phones: PHONES },
        { exclude: ["notes.a", "notes.b", "notes.c", "notes.d"] },
      );
      expect(scan.hits).toEqual([
        { table: "clean", column: "t", kind: "email", sample: `${first.slice(0, 3)}***`, count: 1 },
      ]);
      expect(scan.stats.columns).toBe(1);
    } finally {
      await sql`DELETE FROM clean WHERE t LIKE '%&COMMAT;%'`;
      await sql.close();
    }
  }, 120_000);
});

describe("a psql reader session (copy-session.ts)", () => {
  test("COPYs back to back on one session; a failing one rejects with psql's error, and so does every one behind it", async () => {
    const ok = new CopySession(login());
    const seen: string[] = [];
    const each = (t: CopyTuple) => seen.push(t.buf.toString("utf8", t.starts[0], t.ends[0]));
    await Promise.all([
      ok.copy("SELECT 'a'::text", each),
      ok.copy("SELECT g::text FROM generate_series(1, 3) g", each),
    ]);
    await ok.close();
    expect(seen).toEqual(["a", "1", "2", "3"]);
    const bad = new CopySession(login());
    const results = await Promise.allSettled([
      bad.copy("SELECT 1/0", () => undefined),
      bad.copy("SELECT 'never'::text", () => undefined),
    ]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(String((results[0] as PromiseRejectedResult).reason)).toContain("division by zero");
    await expect(bad.close()).rejects.toThrow("division by zero");
  }, 60_000);
});
