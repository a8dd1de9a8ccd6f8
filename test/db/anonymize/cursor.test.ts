/**
 * eachBatch (cursor.ts), on PostgreSQL: every row once and in order, the next FETCH already run
 * while a batch is handled (proved by a sequence the cursor's rows draw from, read by another
 * session: no clock), and a failing handler fails the read with its own error, nothing left
 * pending.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { eachBatch } from "../../../src/db/anonymize/cursor";
import { pgConnect } from "../../../src/host/postgres";
import { startPostgres, type TestPostgres } from "../../support/postgres";

let pg: TestPostgres;
let sql: SQL;
let other: SQL;

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  sql = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
  other = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
}, 120_000);

afterAll(async () => {
  await sql?.close();
  await other?.close();
  await pg?.stop();
}, 120_000);

describe("eachBatch", () => {
  test("every row once, in order, in batches of at most `batch` (a short last one, and an empty one after a full last)", async () => {
    for (const n of [0, 7, 25, 30]) {
      const seen: number[] = [];
      const sizes: number[] = [];
      await sql.begin(async (tx) => {
        await eachBatch(
          tx,
          { name: "t_rows", select: "SELECT i FROM generate_series(1, $1::int) AS i", params: [n], batch: 10 },
          (rows) => {
            sizes.push(rows.length);
            for (const [i] of rows) seen.push(Number(i));
          },
        );
      });
      expect(seen).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(sizes.every((s) => s <= 10)).toBe(true);
      expect(sizes.at(-1)).toBeLessThan(10);
    }
  });

  test("the next batch is fetched while the current one is handled", async () => {
    await sql`CREATE SEQUENCE IF NOT EXISTS t_prefetch`;
    await sql`SELECT setval('t_prefetch', 1, false)`;
    // An object: TypeScript would narrow a `let` assigned only in the callback to null.
    const drawn = { duringFirst: null as number | null };
    await sql.begin(async (tx) => {
      await eachBatch(
        tx,
        { name: "t_pre", select: "SELECT nextval('t_prefetch') FROM generate_series(1, 25)", batch: 10 },
        async (rows) => {
          if (drawn.duringFirst !== null || rows.length !== 10) return;
          // Rows are computed when fetched: the second batch draws 11–20. Another session waits
          // (bounded) for the sequence to reach 20 while the first batch is still being handled.
          for (let i = 0; i < 100; i++) {
            const [r] = await other<{ v: string }[]>`SELECT last_value::text AS v FROM t_prefetch`;
            drawn.duringFirst = Number(r?.v);
            if (drawn.duringFirst >= 20) break;
            await Bun.sleep(50);
          }
        },
      );
    });
    expect(drawn.duringFirst).toBe(20);
  });

  test("a failing handler fails the read with its error; the session is usable after", async () => {
    const read = sql.begin(async (tx) => {
      await eachBatch(tx, { name: "t_fail", select: "SELECT i FROM generate_series(1, 100) AS i", batch: 10 }, () => {
        throw new Error("handler failed");
      });
    });
    await expect(read).rejects.toThrow("handler failed");
    const [r] = await sql<{ n: number }[]>`SELECT 1::int AS n`;
    expect(r?.n).toBe(1);
  });

  test("a failing FETCH fails the read with PostgreSQL's error", async () => {
    const read = sql.begin(async (tx) => {
      await eachBatch(
        tx,
        { name: "t_err", select: "SELECT 1 / (10 - i) FROM generate_series(1, 30) AS i", batch: 5 },
        () => undefined,
      );
    });
    await expect(read).rejects.toThrow("division by zero");
  });
});
