/**
 * A restore whose S3 download dies mid-part: the error names the object and how many bytes
 * arrived, not just the socket's "aborted", and nothing of the restore is left behind (no new
 * database, nothing in the work dir). The cut is real: a TCP proxy in front of s3rver closes the
 * connection after a fixed number of response bytes.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { SQL } from "bun";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { Unavailable } from "../../src/errors";
import { createRole, databaseExists } from "../../src/host/postgres";
import { restoreBackup, runBackup, type BackupResult } from "../../src/db/backup";
import type { PgAdmin } from "../../src/db/backup/commands";
import { type BackupStores, startBackupStores } from "../support/backup-stores";
import type { TestPostgres } from "../support/postgres";
import type { TestS3 } from "../support/s3";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { createOdooDatabase, type OdooFixture } from "./odoo-fixture";
import { memoryLog } from "./quiet-log";

const MiB = 1024 * 1024;
const CUT_AFTER = 256 * 1024;
const KEY = randomBytes(32);
const TRUST = { key: KEY, acceptUnsigned: false };

let pg: TestPostgres;
let s3: TestS3;
let admin: SQL;
let conn: PgAdmin;
let root: string;
let fx: OdooFixture;
let stores: BackupStores | undefined;

/** Forwards to s3rver; each connection is closed once CUT_AFTER response bytes went through. */
function cuttingProxy(targetPort: number) {
  return Bun.listen<{ upstream: Socket<unknown> | null; sent: number; pending: Uint8Array[] }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      async open(client) {
        client.data = { upstream: null, sent: 0, pending: [] };
        client.data.upstream = await Bun.connect({
          hostname: "127.0.0.1",
          port: targetPort,
          socket: {
            data(_up, chunk) {
              const room = CUT_AFTER - client.data.sent;
              client.write(room < chunk.byteLength ? chunk.subarray(0, Math.max(room, 0)) : chunk);
              client.data.sent += chunk.byteLength;
              if (client.data.sent >= CUT_AFTER) {
                client.end();
                _up.end();
              }
            },
            close() {
              client.end();
            },
          },
        });
        for (const p of client.data.pending) client.data.upstream.write(p);
      },
      data(client, chunk) {
        if (client.data.upstream) client.data.upstream.write(chunk);
        else client.data.pending.push(new Uint8Array(chunk));
      },
      close(client) {
        client.data.upstream?.end();
      },
    },
  });
}

let fromS3: BackupResult;
let proxy: ReturnType<typeof cuttingProxy> | null = null;

beforeAll(async () => {
  stores = await startBackupStores("odooops-restore-abort-");
  ({ pg, s3, conn, admin, root } = stores);
  fx = await createOdooDatabase(admin, conn, {
    db: "odoo_shop",
    partners: 50,
    blobBytes: 2 * MiB,
    filestoreDir: join(root, "envs", "shop", "filestore", "odoo_shop"),
    filestoreBytes: 1 * MiB,
  });
  await createRole(admin, "odoo_copy", "pw-odoo-copy");
  const target = await s3.target(`ra-${randomSuffix()}`);
  fromS3 = await runBackup({
    pg: { host: pg.host, port: pg.port, user: fx.owner, password: fx.ownerPassword },
    dbName: fx.db,
    filestoreDir: fx.filestoreDir,
    envSlug: "shop",
    backupId: "b-cut",
    targets: { s3: target },
    log: memoryLog(),
    s3PartSizeBytes: 5 * MiB,
    manifestKey: KEY,
  });
  expect(fromS3.status).toBe("completed");
  proxy = cuttingProxy(s3.port);
}, 120_000);

afterAll(async () => {
  proxy?.stop(true);
  await stores?.stop();
}, 120_000);

test("the download dies: the error names the object and the bytes read; no database, no file left", async () => {
  const target = await s3.target(fromS3.s3?.bucket ?? "", { endpoint: `http://127.0.0.1:${proxy!.port}` });
  const work = makeTempDir("odooops-work-");
  const prefix = fromS3.s3?.prefix ?? "";
  let error: unknown = null;
  try {
    await restoreBackup({
      pg: conn,
      source: { kind: "s3", target, prefix },
      newDbName: "odoo_copy_new",
      owner: { host: pg.host, port: pg.port, user: "odoo_copy", password: "pw-odoo-copy" },
      jobs: 2,
      filestoreTargetDir: join(root, "envs", "copy", "filestore", "odoo_copy"),
      workDir: work,
      log: memoryLog(),
      manifestTrust: TRUST,
    });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(Unavailable);
  const message = (error as Error).message;
  const m = /^reading s3:\/\/(\S+) died after (\d+) of (\d+) bytes: (.+)$/.exec(message);
  if (!m) throw new Error(`unexpected message: ${message}`);
  expect(m[1]).toStartWith(`${fromS3.s3?.bucket}/${prefix}`);
  expect(Number(m[2])).toBeLessThan(Number(m[3]));
  expect(m[4].length).toBeGreaterThan(0);
  expect(await databaseExists(admin, "odoo_copy_new")).toBe(false);
  expect(readdirSync(work)).toEqual([]);
  removeTempDir(work);
}, 120_000);
