/**
 * The fake kinds evaluated by a real PostgreSQL 15: deterministic per key, case/format-blind
 * where one person may be written two ways, unique logins, NULL and '' kept, shapes Odoo accepts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { ANON_KEY_SETTING, FAKE_KINDS, fakeSql, type FakeKind } from "../../../src/db/anonymize/fake";
import { pgConnect } from "../../../src/host/postgres";
import { startPostgres, type TestPostgres } from "../../support/postgres";

let pg: TestPostgres;
let sql: SQL;

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  sql = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: "postgres" });
  await sql`CREATE TABLE t (id serial PRIMARY KEY, v varchar, n varchar NOT NULL DEFAULT 'x')`;
  await sql`INSERT INTO t (v) VALUES ('Ann.Lee@Corp.example'), ('  ann.lee@corp.example '), ('bob@corp.example'), (NULL), (''),
    ('+32 475 12 34 56'), ('0032475123456'), ('admin'), ('bob@corp.example')`;
}, 120_000);

afterAll(async () => {
  await sql?.close();
  await pg?.stop();
}, 120_000);

/** kind's value for every row (by id), under `key`. */
async function fakes(kind: FakeKind, key: string, col = `"v"`, nullable = true): Promise<Map<number, string | null>> {
  return sql.begin(async (tx) => {
    await tx`SELECT set_config(${ANON_KEY_SETTING}, ${key}, true)`;
    const rows = await tx.unsafe<{ id: number; f: string | null }[]>(
      `SELECT id, ${fakeSql(kind, { col, nullable, id: `"id"` })} AS f FROM t ORDER BY id`,
    );
    return new Map(rows.map((r) => [r.id, r.f]));
  });
}

describe("fake kinds on PostgreSQL", () => {
  test("every kind: same input + key → same value; NULL and '' kept; never the source value", async () => {
    for (const kind of FAKE_KINDS) {
      const a = await fakes(kind, "key-1");
      const b = await fakes(kind, "key-1");
      expect([kind, ...a]).toEqual([kind, ...b]);
      if (kind !== "secret") expect([kind, a.get(4), a.get(5)]).toEqual([kind, null, ""]);
      // Rows 3 and 9 hold the same address (login alone is per row, by design).
      if (kind !== "secret" && kind !== "login") expect([kind, a.get(3)]).toEqual([kind, a.get(9)]);
      expect(a.get(3)).not.toBe("bob@corp.example");
    }
  });

  test("email: one person written two ways gets one address; a new key gives new addresses", async () => {
    const a = await fakes("email", "key-1");
    expect(a.get(1)).toMatch(/^u[0-9a-f]{16}@example\.invalid$/);
    expect(a.get(1)).toBe(a.get(2) as string);
    expect(a.get(1)).not.toBe(a.get(3) as string);
    const b = await fakes("email", "key-2");
    expect(b.get(1)).not.toBe(a.get(1) as string);
  });

  test("login: addresses become unique per row, other logins stay", async () => {
    const a = await fakes("login", "key-1");
    expect(a.get(3)).toBe("user-3@example.invalid");
    expect(a.get(9)).toBe("user-9@example.invalid");
    expect(a.get(8)).toBe("admin");
  });

  test("phone: by digits, phone-shaped, reserved range", async () => {
    const a = await fakes("phone", "key-1");
    expect(a.get(6)).toMatch(/^\+44 7700 900\d{3}$/);
    const same = await sql.begin(async (tx) => {
      await tx`SELECT set_config(${ANON_KEY_SETTING}, 'key-1', true)`;
      return tx.unsafe<{ f: string }[]>(
        `SELECT ${fakeSql("phone", { col: `'32-475-123456'::varchar`, nullable: true, id: "0" })} AS f`,
      );
    });
    expect(same[0]?.f).toBe(a.get(6) as string);
    expect(a.get(7)).not.toBe(a.get(6) as string);
  });

  test("ip is a TEST-NET-1 inet; secret: NULL when nullable, random per row when required", async () => {
    const ip = await fakes("ip", "key-1");
    const [row] = await sql.unsafe<{ ok: boolean }[]>(`SELECT $1::inet << '192.0.2.0/24'::inet AS ok`, [ip.get(1)]);
    expect(row?.ok).toBe(true);
    expect([...(await fakes("secret", "key-1")).values()].every((v) => v === null)).toBe(true);
    const s1 = await fakes("secret", "key-1", `"n"`, false);
    const s2 = await fakes("secret", "key-1", `"n"`, false);
    expect(s1.get(1)).toMatch(/^[0-9a-f]{32}$/);
    expect(s1.get(1)).not.toBe(s2.get(1) as string);
    expect(s1.get(1)).not.toBe(s1.get(2) as string);
  });
});
