/**
 * Issue #6's benchmark properties at CI size, without a single time assertion: an Odoo-shaped
 * database of ~100 MB (bench/lib/odoo-data.ts, the generator bench/db-ops.ts uses at 2 GB) plus
 * an incompressible attachment so the dump is several times the upload buffers, then
 *   - backup to s3rver: no file of the dump anywhere (nothing ≥ 1 MiB open for writing by this
 *     process, pg_dump or tar, nothing new in TMPDIR / the work dir);
 *   - restore of that backup: every table equal to the source (row count + md5 of all rows),
 *     the filestore byte-identical;
 *   - stream clone: equal too, and no dump file either;
 *   - RSS flat as the size grows: each backup runs in a fresh process (test/db/backup-child.ts)
 *     whose peak RSS is read from /proc; after ~250 MiB more of incompressible rows that peak
 *     rises by under a quarter of what the dump grew, and stays under the dump's size.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cloneDatabase, restoreBackup, runBackup, type BackupResult } from "../../src/db/backup";
import type { PgAdmin } from "../../src/db/backup/commands";
import { run } from "../../src/exec/run";
import { pgConnect } from "../../src/host/postgres";
import type { S3Target } from "../../src/host/s3/schema";
import { generateOdooData } from "../../bench/lib/odoo-data";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { startS3, type TestS3 } from "../support/s3";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { createOdooDatabase, filestoreChecksums, tableChecksums, type OdooFixture } from "./odoo-fixture";
import { memoryLog } from "./quiet-log";
import { watchStreaming } from "./stream-watch";

const SLOW = 300_000;
/** This test host's backup manifest key. */
const KEY = randomBytes(32);
const MiB = 1024 * 1024;
/** Upload buffers: 5 MiB parts × queue 2 (+ the 1 MiB stream buffer) ≈ 16 MiB at most. */
const PART = 5 * MiB;
/** A temp file of the dump would pass this within the first second of pg_dump. */
const BIG_FILE = 1 * MiB;

let pg: TestPostgres;
let s3: TestS3;
let target: S3Target;
let admin: SQL;
let conn: PgAdmin;
let root: string;
let tmp: string;
let fx: OdooFixture;
let source: Record<string, string>;
let backup: BackupResult;

/** The env's own role: backups, restore checks and clone's pg_dump log in as it. */
function envLogin(): PgAdmin {
  return { host: pg.host, port: pg.port, user: fx.owner, password: fx.ownerPassword };
}

/** A backup in a fresh process: its outcome and that process's peak RSS. */
async function backupInChild(
  backupId: string,
): Promise<{ status: string; error: string | null; dbBytes: number; vmHwmBytes: number }> {
  const input = {
    pg: envLogin(),
    dbName: fx.db,
    filestoreDir: fx.filestoreDir,
    envSlug: "shop",
    backupId,
    targets: { s3: target },
    s3PartSizeBytes: PART,
  };
  const r = await run({ argv: [process.execPath, join(import.meta.dir, "backup-child.ts"), JSON.stringify(input)] });
  return JSON.parse(r.stdout) as { status: string; error: string | null; dbBytes: number; vmHwmBytes: number };
}

/** Any temp file of ours, pg_dump's or tar's would land in TMPDIR: point it at a watched dir. */
async function withTmpdir<T>(dir: string, op: () => Promise<T>): Promise<T> {
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    return await op();
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres({ dockerAccess: false }), startS3()]);
  target = await s3.target(`st-${randomSuffix()}`, { prefix: "odooops", queueSize: 2 });
  conn = { host: pg.host, port: pg.port, user: pg.user, password: pg.password };
  admin = pgConnect(conn);
  root = makeTempDir("odooops-streaming-");
  tmp = makeTempDir("odooops-streaming-tmp-");
  const filestoreDir = join(root, "envs", "shop", "filestore", "odoo_stream");
  // 32 MiB of random bytes in one attachment: the dump cannot compress below the buffers.
  fx = await createOdooDatabase(admin, conn, {
    db: "odoo_stream",
    partners: 50,
    blobBytes: 32 * MiB,
    filestoreDir,
    filestoreBytes: 1 * MiB,
  });
  await generateOdooData({
    pg: conn,
    db: fx.db,
    owner: fx.owner,
    targetBytes: 100e6,
    filestoreDir,
    filestoreBytes: 3 * MiB,
  });
  source = await tableChecksums(conn, fx.db);
}, SLOW);

afterAll(async () => {
  await admin?.close();
  await Promise.all([pg?.stop(), s3?.destroy()]);
  if (root) removeTempDir(root);
  if (tmp) removeTempDir(tmp);
}, SLOW);

describe("streaming on a generated Odoo-shaped database", () => {
  test("the generated database has the bulk tables and a real size", async () => {
    const [row] = await admin<{ n: string }[]>`SELECT pg_database_size(${fx.db})::text AS n`;
    expect(Number(row?.n)).toBeGreaterThan(90e6);
    const rows = (t: string) => Number((source[t] ?? "0:").split(":")[0]);
    for (const t of ["res_partner", "mail_message", "account_move_line"]) expect(rows(t)).toBeGreaterThan(1000);
    expect(rows("ir_attachment")).toBeGreaterThan(5);
  });

  test(
    "the watcher does see a dump written to a file (control)",
    async () => {
      const out = join(tmp, "control.dump");
      const watched = await watchStreaming(
        () =>
          run({
            argv: ["pg_dump", "-Fc", "-h", pg.host, "-p", String(pg.port), "-U", pg.user, "-d", fx.db, "-f", out],
            env: { PGPASSWORD: pg.password },
          }),
        { dirs: [tmp, root], minBytes: BIG_FILE, ignore: [s3.dir, pg.dataDir] },
      );
      rmSync(out, { force: true });
      expect(watched.bigFiles.some((f) => f.startsWith(out))).toBe(true);
    },
    SLOW,
  );

  test(
    "backup to S3 writes no dump file anywhere",
    async () => {
      const workDir = join(root, "work");
      const watched = await withTmpdir(tmp, () =>
        watchStreaming(
          () =>
            runBackup({
              pg: envLogin(),
              dbName: fx.db,
              filestoreDir: join(root, "envs", "shop", "filestore", "odoo_stream"),
              envSlug: "shop",
              backupId: "b-stream",
              targets: { s3: target },
              log: memoryLog(),
              manifestKey: KEY,
              s3PartSizeBytes: PART,
            }),
          { dirs: [tmp, root], minBytes: BIG_FILE, ignore: [s3.dir, pg.dataDir] },
        ),
      );
      backup = watched.value;
      expect(backup.error).toBeNull();
      expect(backup.status).toBe("completed");
      const dumpBytes = backup.manifest?.parts.db.size ?? 0;
      // Several times the buffers, or the RSS comparison below would prove nothing.
      expect(dumpBytes).toBeGreaterThan(40 * MiB);
      expect(backup.s3?.parts.db?.parts).toBeGreaterThanOrEqual(8);
      expect(watched.samples).toBeGreaterThan(10);
      expect(watched.bigFiles).toEqual([]);
      expect(existsSync(workDir) ? readdirSync(workDir) : []).toEqual([]);
    },
    SLOW,
  );

  test(
    "restore from S3 equals the source: every table's rows and the filestore",
    async () => {
      expect(backup?.status).toBe("completed");
      const filestoreTargetDir = join(root, "envs", "restored", "filestore", "odoo_restored");
      const r = await restoreBackup({
        pg: conn,
        source: { kind: "s3", target, prefix: backup.s3?.prefix ?? "" },
        newDbName: "odoo_restored",
        owner: envLogin(),
        jobs: 2,
        filestoreTargetDir,
        workDir: join(root, "work"),
        log: memoryLog(),
        manifestTrust: { key: KEY, acceptUnsigned: false },
      });
      expect(await tableChecksums(conn, "odoo_restored")).toEqual(source);
      expect(filestoreChecksums(r.stagedFilestoreDir)).toEqual(filestoreChecksums(fx.filestoreDir));
      // The downloaded dump (pg_restore -j needs a file) is gone afterwards.
      expect(readdirSync(join(root, "work"))).toEqual([]);
    },
    SLOW,
  );

  test(
    "stream clone equals the source and writes no dump file",
    async () => {
      const watched = await withTmpdir(tmp, () =>
        watchStreaming(
          () =>
            cloneDatabase({
              pg: conn,
              sourceLogin: envLogin(),
              sourceDb: fx.db,
              targetDb: "odoo_cloned",
              owner: envLogin(),
              method: "stream",
              log: memoryLog(),
            }),
          {
            dirs: [tmp, root],
            minBytes: BIG_FILE,
            ignore: [s3.dir, pg.dataDir],
          },
        ),
      );
      expect(watched.value.method).toBe("stream");
      expect(watched.value.bytes ?? 0).toBeGreaterThan(80 * MiB);
      expect(watched.bigFiles).toEqual([]);
      expect(await tableChecksums(conn, "odoo_cloned")).toEqual(source);
    },
    SLOW,
  );

  test(
    "RSS is flat as the size grows: a dump ~5× larger barely moves the backup's peak memory",
    async () => {
      const small = await backupInChild("b-rss-small");
      expect([small.status, small.error]).toEqual(["completed", null]);
      const sql = pgConnect({ ...conn, database: fx.db });
      try {
        // 240 rows of 1 MiB of md5 bytes (random: the dump cannot shrink them), as attachments stored in the database.
        await sql.unsafe(`INSERT INTO ir_attachment (name, type, db_datas)
        SELECT 'blob-' || g, 'binary', (SELECT string_agg(decode(md5(random()::text || g || s), 'hex'), '') FROM generate_series(1, 65536) s)
        FROM generate_series(1, 240) g`);
      } finally {
        await sql.close();
      }
      const big = await backupInChild("b-rss-big");
      expect([big.status, big.error]).toEqual(["completed", null]);
      expect(big.dbBytes).toBeGreaterThan(small.dbBytes + 200 * MiB);
      expect(big.vmHwmBytes - small.vmHwmBytes).toBeLessThan((big.dbBytes - small.dbBytes) / 4);
      expect(big.vmHwmBytes).toBeLessThan(big.dbBytes);
    },
    SLOW,
  );
});
