/**
 * The anonymizing copy streams: ~200 MiB more rows through a ruled table's COPY pipe barely move
 * the copying process's peak RSS (the pipes are the kernel's: exec/pipe.ts), and no file of the
 * data is written anywhere on the way (TMPDIR and the test's directories watched, as in
 * test/db/streaming.test.ts). `bytes` is the copy's database size.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { join } from "node:path";
import { AnonymizeRulesSchema } from "../../../src/db/backup/anonymize";
import type { PgAdmin } from "../../../src/db/backup/commands";
import { run } from "../../../src/exec/run";
import { createDatabase, createRole, pgConnect } from "../../../src/host/postgres";
import { startPostgres, type TestPostgres } from "../../support/postgres";
import { makeTempDir, removeTempDir } from "../../support/tmp";
import { createOdooDatabase, type OdooFixture } from "../odoo-fixture";
import { watchStreaming } from "../stream-watch";

const SLOW = 300_000;
const MiB = 1024 * 1024;

let pg: TestPostgres;
let admin: SQL;
let conn: PgAdmin;
let root: string;
let fx: OdooFixture;

const rules = AnonymizeRulesSchema.parse({
  version: 1,
  tables: {
    res_partner: { columns: { email: { fake: "email" }, phone: { fake: "phone" } } },
    mail_message: { columns: { subject: { fake: "text" }, email_from: { fake: "email" } } },
  },
});

interface ChildResult {
  bytes: number;
  tables: { table: string; rows: number }[];
  vmHwmBytes: number;
}

async function copyInChild(targetDb: string): Promise<ChildResult> {
  await createRole(admin, targetDb, `pw-${targetDb}`);
  await createDatabase(admin, targetDb, targetDb);
  const input = {
    sourceLogin: { host: pg.host, port: pg.port, user: fx.owner, password: fx.ownerPassword },
    sourceDb: fx.db,
    targetDb,
    owner: { host: pg.host, port: pg.port, user: targetDb, password: `pw-${targetDb}` },
    rules,
    devPassword: "unused",
  };
  const r = await run({
    argv: [process.execPath, join(import.meta.dir, "copy-child.ts"), JSON.stringify(input)],
    env: { TMPDIR: root },
    timeoutMs: SLOW,
  });
  return JSON.parse(r.stdout) as ChildResult;
}

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  conn = { host: pg.host, port: pg.port, user: pg.user, password: pg.password };
  admin = pgConnect(conn);
  root = makeTempDir("odooops-anonstream-");
  fx = await createOdooDatabase(admin, conn, {
    db: "odoo_prod",
    partners: 50,
    filestoreDir: join(root, "fs", "odoo_prod"),
  });
}, SLOW);

afterAll(async () => {
  await admin?.close();
  await pg?.stop();
  if (root) removeTempDir(root);
}, SLOW);

describe("anonymizing copy: memory and disk", () => {
  test(
    "RSS flat and no temp file while ~200 MiB more stream through a ruled table",
    async () => {
      const small = await copyInChild("odoo_small");
      const sql = pgConnect({ ...conn, database: fx.db });
      try {
        // 200 messages of 1 MiB of hex text each, stored uncompressed (pg_dump's pre-data carries
        // the column's storage to the copy): the copy's size grows by what streamed.
        await sql.unsafe("ALTER TABLE mail_message ALTER COLUMN body SET STORAGE EXTERNAL");
        await sql.unsafe(`INSERT INTO mail_message (subject, body, email_from, model, res_id, message_type)
        SELECT 'big ' || g, (SELECT string_agg(md5(random()::text || g || s), '') FROM generate_series(1, 32768) s), 'x@example.org', 'res.partner', 2, 'email'
        FROM generate_series(1, 200) g`);
      } finally {
        await sql.close();
      }
      const watched = await watchStreaming(() => copyInChild("odoo_big"), {
        dirs: [root],
        minBytes: MiB,
        ignore: [pg.dataDir],
      });
      const big = watched.value;
      expect(big.tables.find((t) => t.table === "mail_message")?.rows).toBe(
        (small.tables.find((t) => t.table === "mail_message")?.rows ?? 0) + 200,
      );
      expect(big.bytes).toBeGreaterThan(small.bytes + 190 * MiB);
      expect(watched.bigFiles).toEqual([]);
      expect(big.vmHwmBytes - small.vmHwmBytes).toBeLessThan((big.bytes - small.bytes) / 4);
      const c = pgConnect({ ...conn, database: "odoo_big" });
      try {
        const [m] = await c<
          { n: number; subj: number }[]
        >`SELECT count(*)::int AS n, count(*) FILTER (WHERE subject = 'anonymized')::int AS subj FROM mail_message WHERE length(body) = 1048576`;
        expect(m).toEqual({ n: 200, subj: 200 });
      } finally {
        await c.close();
      }
    },
    SLOW,
  );
});
