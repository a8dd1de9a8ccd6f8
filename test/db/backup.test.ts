/**
 * Backup → verify → restore → swap against a real PostgreSQL 15 cluster and a real s3rver,
 * on an Odoo-shaped database whose dump and filestore are large enough for multipart uploads.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { createHash, randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { Conflict, Invalid } from "../../src/errors";
import { run } from "../../src/exec/run";
import { createRole, databaseExists, dropDatabase, pgConnect } from "../../src/host/postgres";
import { openS3 } from "../../src/host/s3/client";
import {
  backupRowUpdate,
  cleanupRestore,
  deleteBackup,
  readManifest,
  restoreBackup,
  restoreScratch,
  runBackup,
  signManifest,
  swapDatabases,
  swapFilestore,
  type BackupResult,
} from "../../src/db/backup";
import type { PgAdmin } from "../../src/db/backup/commands";
import { type BackupStores, startBackupStores } from "../support/backup-stores";
import type { TestPostgres } from "../support/postgres";
import type { TestS3 } from "../support/s3";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { createOdooDatabase, filestoreChecksums, tableChecksums, type OdooFixture } from "./odoo-fixture";
import { memoryLog } from "./quiet-log";

const SLOW = 120_000;
const MiB = 1024 * 1024;
const PART = 5 * MiB;

let pg: TestPostgres;
let s3: TestS3;
let admin: SQL;
let conn: PgAdmin;
let root: string;
let fx: OdooFixture;
let stores: BackupStores | undefined;
let before: Record<string, string>;

/** This test host's manifest key (SecretBox.derive in the daemon). */
const KEY = randomBytes(32);
const TRUST = { key: KEY, acceptUnsigned: false };

const sha = (buf: Uint8Array) => createHash("sha256").update(buf).digest("hex");

function copyParts(from: string, to: string, files: string[]): void {
  mkdirSync(to, { recursive: true });
  for (const f of files) copyFileSync(join(from, f), join(to, f));
}

beforeAll(async () => {
  stores = await startBackupStores("odooops-backup-");
  ({ pg, s3, conn, admin, root } = stores);
  fx = await createOdooDatabase(admin, conn, {
    db: "odoo_shop",
    partners: 300,
    blobBytes: 7 * MiB,
    filestoreDir: join(root, "envs", "shop", "filestore", "odoo_shop"),
    filestoreBytes: 6 * MiB,
  });
  before = await tableChecksums(conn, fx.db);
}, SLOW);

afterAll(async () => {
  await stores?.stop();
}, SLOW);

/** The env's own role: backups and restore checks log in as it, never as the admin. */
function envLogin(): PgAdmin {
  return { host: pg.host, port: pg.port, user: fx.owner, password: fx.ownerPassword };
}

function roleLogin(user: string, password: string): PgAdmin {
  return { host: pg.host, port: pg.port, user, password };
}

async function backup(
  id: string,
  targets: Parameters<typeof runBackup>[0]["targets"],
  log = memoryLog(),
): Promise<BackupResult> {
  return runBackup({
    pg: envLogin(),
    dbName: fx.db,
    filestoreDir: fx.filestoreDir,
    envSlug: "shop",
    backupId: id,
    targets,
    log,
    s3PartSizeBytes: PART,
    manifestKey: KEY,
  });
}

describe("backup", () => {
  test(
    "to s3rver and a local dir: completed, verified, byte-identical, nothing in TMPDIR",
    async () => {
      const bucket = `bk-${randomSuffix()}`;
      const target = await s3.target(bucket, { prefix: "odooops" });
      const localRoot = join(root, "backups");
      // Any temp file (ours, pg_dump's, tar's) would land in TMPDIR: watch it during the backup.
      const watched = makeTempDir("odooops-tmpwatch-");
      const savedTmp = process.env.TMPDIR;
      process.env.TMPDIR = watched;
      let seen = 0;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          seen = Math.max(seen, readdirSync(watched).length);
          await Bun.sleep(5);
        }
      })();
      let r: BackupResult;
      try {
        r = await backup("b-full", { local: localRoot, s3: target });
      } finally {
        watching = false;
        await watcher;
        if (savedTmp === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = savedTmp;
        removeTempDir(watched);
      }
      expect(seen).toBe(0);
      expect(r.error).toBeNull();
      expect(r.status).toBe("completed");
      const m = r.manifest;
      if (!m) throw new Error("no manifest");
      expect(m).toMatchObject({
        format: 1,
        backupId: "b-full",
        env: "shop",
        dbName: "odoo_shop",
        odooVersion: "17.0",
        tableCount: 10,
        rowCounts: { ir_module_module: 7, res_partner: 300, res_users: 3, res_company: 1, ir_config_parameter: 5 },
        pgDump: { format: "custom" },
      });
      expect(m.modules).toEqual([
        { name: "base", version: "17.0.1.3" },
        { name: "contacts", version: "17.0.1.0" },
        { name: "mail", version: "17.0.1.15" },
        { name: "sale", version: "17.0.1.2" },
        { name: "web", version: "17.0.1.0" },
      ]);
      expect(m.pgDump.version).toContain("pg_dump (PostgreSQL) 15");
      expect(m.server.version).toStartWith("15");
      expect(m.parts.db.size).toBeGreaterThan(PART);
      expect(m.parts.filestore.size).toBeGreaterThan(PART);
      expect(r.sizeBytes).toBe(m.parts.db.size + m.parts.filestore.size);

      // S3: verified on upload (multipart, ETag), and byte-identical when downloaded.
      expect(r.s3).toMatchObject({ status: "ok", bucket, prefix: "odooops/shop/b-full/" });
      expect(r.s3?.parts.db).toMatchObject({ verified: { size: true, etag: true } });
      expect(r.s3?.parts.db?.parts).toBeGreaterThanOrEqual(2);
      const store = await openS3(target);
      try {
        expect((await store.list("odooops/shop/b-full/")).map((o) => o.key)).toEqual([
          "odooops/shop/b-full/db.dump",
          "odooops/shop/b-full/filestore.tar",
          "odooops/shop/b-full/manifest.json",
        ]);
        const db = await store.getBytes("odooops/shop/b-full/db.dump");
        expect({ size: db.byteLength, sha256: sha(db) }).toEqual({ size: m.parts.db.size, sha256: m.parts.db.sha256 });
        const tar = await store.getBytes("odooops/shop/b-full/filestore.tar");
        expect({ size: tar.byteLength, sha256: sha(tar) }).toEqual({
          size: m.parts.filestore.size,
          sha256: m.parts.filestore.sha256,
        });
        const { hmac, ...stored } = JSON.parse(
          new TextDecoder().decode(await store.getBytes("odooops/shop/b-full/manifest.json")),
        ) as Record<string, unknown>;
        expect(stored).toEqual(m);
        expect(hmac).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
      } finally {
        store.close();
      }

      // Local: the same bytes, final names only.
      expect(r.local).toEqual({ dir: join(localRoot, "shop", "b-full"), status: "ok", error: null });
      const dir = join(localRoot, "shop", "b-full");
      expect(readdirSync(dir).sort()).toEqual(["db.dump", "filestore.tar", "manifest.json"]);
      expect(sha(readFileSync(join(dir, "db.dump")))).toBe(m.parts.db.sha256);
      expect(sha(readFileSync(join(dir, "filestore.tar")))).toBe(m.parts.filestore.sha256);
      expect(statSync(join(dir, "db.dump")).mode & 0o777).toBe(0o600);
    },
    SLOW,
  );

  test(
    "wrong bucket: failed with the S3 reason, local copy kept and restorable",
    async () => {
      const localRoot = join(root, "backups-nobucket");
      const r = await backup("b-nobucket", { local: localRoot, s3: s3.targetNoCreate(`missing-${randomSuffix()}`) });
      expect(r.status).toBe("failed");
      expect(r.s3?.status).toBe("failed");
      expect(r.error).toContain("NoSuchBucket");
      expect(r.error).toContain("local copy kept at");
      expect(r.local).toMatchObject({ status: "ok", error: null });
      expect(backupRowUpdate(r)).toMatchObject({
        status: "failed",
        localPath: join(localRoot, "shop", "b-nobucket"),
        s3Key: null,
      });
      const m = await readManifest({ kind: "local", dir: join(localRoot, "shop", "b-nobucket") }, TRUST);
      expect(m.parts.db.sha256).toBe(r.manifest?.parts.db.sha256 ?? "");
    },
    SLOW,
  );

  test(
    "s3rver killed mid-upload: failed, nothing in S3 reported good, local copy complete",
    async () => {
      const bucket = `bk-${randomSuffix()}`;
      const target = await s3.target(bucket);
      const localRoot = join(root, "backups-killed");
      // Kill the server as soon as the first multipart part has landed.
      let killed = false;
      const killer = (async () => {
        const deadline = Date.now() + 60_000;
        while (!killed && Date.now() < deadline) {
          const parts = readdirSync(join(s3.dir, "data", bucket), { recursive: true }).map(String);
          if (parts.some((p) => p.endsWith("/1.md5"))) {
            await s3.stop();
            killed = true;
          }
          await Bun.sleep(10);
        }
      })();
      const r = await backup("b-killed", { local: localRoot, s3: target });
      await killer;
      await s3.start();
      expect(killed).toBe(true);
      expect(r.status).toBe("failed");
      expect(r.s3?.status).toBe("failed");
      expect(r.error).toMatch(/^s3: /);
      expect(r.local?.status).toBe("ok");
      const dir = join(localRoot, "shop", "b-killed");
      expect(sha(readFileSync(join(dir, "db.dump")))).toBe(r.manifest?.parts.db.sha256 ?? "");
      const store = await openS3(target);
      try {
        expect((await store.list("shop/b-killed/")).filter((o) => o.key.endsWith("manifest.json"))).toEqual([]);
      } finally {
        store.close();
      }
    },
    SLOW,
  );

  test(
    "unusable local dir: failed with the local reason, the verified S3 copy stays",
    async () => {
      const target = await s3.target(`bk-${randomSuffix()}`);
      const notADir = join(root, "plain-file");
      writeFileSync(notADir, "x");
      const r = await backup("b-nolocal", { local: notADir, s3: target });
      expect(r.status).toBe("failed");
      expect(r.local?.status).toBe("failed");
      expect(r.error).toMatch(/^local: cannot create .*ENOTDIR/);
      expect(r.s3).toMatchObject({ status: "ok", error: null });
      expect((await readManifest({ kind: "s3", target, prefix: r.s3?.prefix ?? "" }, TRUST)).parts.db.sha256).toBe(
        r.manifest?.parts.db.sha256 ?? "",
      );
    },
    SLOW,
  );

  test(
    "a missing database: failed, no copy left anywhere",
    async () => {
      const bucket = `bk-${randomSuffix()}`;
      const target = await s3.target(bucket);
      const localRoot = join(root, "backups-nodb");
      const r = await runBackup({
        pg: envLogin(),
        dbName: "odoo_nope",
        filestoreDir: fx.filestoreDir,
        envSlug: "shop",
        backupId: "b-nodb",
        targets: { local: localRoot, s3: target },
        log: memoryLog(),
        manifestKey: KEY,
      });
      expect(r.status).toBe("failed");
      expect(r.manifest).toBeNull();
      expect(r.error).toContain("odoo_nope");
      expect(existsSync(join(localRoot, "shop", "b-nodb"))).toBe(false);
      const store = await openS3(target);
      try {
        expect(await store.list("")).toEqual([]);
      } finally {
        store.close();
      }
    },
    SLOW,
  );

  test(
    "no target / bad ids are refused before anything runs",
    async () => {
      await expect(backup("b-x", {})).rejects.toThrow(Invalid);
      await expect(backup("../etc", { local: root })).rejects.toThrow(Invalid);
    },
    SLOW,
  );

  test(
    "compressLevel is pg_dump's -Z: level 0 stores the data uncompressed (MiBs larger than level 9), and pg_restore reads it",
    async () => {
      const dir = join(root, "backups-z");
      const base = {
        pg: envLogin(),
        dbName: fx.db,
        filestoreDir: fx.filestoreDir,
        envSlug: "shop",
        targets: { local: dir },
        log: memoryLog(),
        manifestKey: KEY,
      };
      const plain = await runBackup({ ...base, backupId: "b-z0", compressLevel: 0 });
      const packed = await runBackup({ ...base, backupId: "b-z9", compressLevel: 9 });
      expect([plain.status, packed.status]).toEqual(["completed", "completed"]);
      expect(plain.manifest!.parts.db.size).toBeGreaterThan(packed.manifest!.parts.db.size + 4 * 1024 * 1024);
      const listed = await run({ argv: ["pg_restore", "--list", join(dir, "shop", "b-z0", "db.dump")] });
      expect(listed.stdout).toContain("TABLE DATA public res_partner");
    },
    SLOW,
  );
});

describe("restore", () => {
  let fromS3: BackupResult;
  let s3Target: Awaited<ReturnType<TestS3["target"]>>;
  const localRoot = () => join(root, "backups-restore");

  beforeAll(async () => {
    s3Target = await s3.target(`rs-${randomSuffix()}`);
    fromS3 = await backup("b-restore", { s3: s3Target, local: localRoot() });
    expect(fromS3.status).toBe("completed");
    await createRole(admin, "odoo_copy", "pw-odoo-copy");
  }, SLOW);

  test(
    "from S3 into a new database: equal tables and filestore, owned by the target role",
    async () => {
      const work = makeTempDir("odooops-work-");
      const target = join(root, "envs", "copy", "filestore", "odoo_copy");
      const r = await restoreBackup({
        pg: conn,
        source: { kind: "s3", target: s3Target, prefix: fromS3.s3?.prefix ?? "" },
        newDbName: "odoo_copy_new",
        owner: roleLogin("odoo_copy", "pw-odoo-copy"),
        jobs: 4,
        filestoreTargetDir: target,
        workDir: work,
        log: memoryLog(),
        manifestTrust: TRUST,
      });
      expect(r.checks).toMatchObject({
        baseInstalled: true,
        modules: 5,
        tableCount: 10,
        dbSha256: fromS3.manifest?.parts.db.sha256,
      });
      expect(await tableChecksums(conn, "odoo_copy_new")).toEqual(before);
      expect(filestoreChecksums(r.stagedFilestoreDir)).toEqual(filestoreChecksums(fx.filestoreDir));
      expect(readdirSync(work)).toEqual([]); // the downloaded dump is gone
      const c = pgConnect({ ...conn, database: "odoo_copy_new" });
      try {
        const owners = await c<
          { o: string }[]
        >`SELECT DISTINCT tableowner AS o FROM pg_tables WHERE schemaname = 'public'`;
        expect(owners.map((o) => o.o)).toEqual(["odoo_copy"]);
      } finally {
        await c.close();
      }

      // First restore of an env without a database: the replacement just takes the name.
      expect(await swapDatabases(admin, { current: "odoo_copy", replacement: "odoo_copy_new" })).toEqual({
        previous: null,
      });
      expect(await swapFilestore(target, r.stagedFilestoreDir)).toEqual({ previousDir: null });
      expect(filestoreChecksums(target)).toEqual(filestoreChecksums(fx.filestoreDir));
      removeTempDir(work);
    },
    SLOW,
  );

  test(
    "from the local copy, then swap: sessions on the old database are ended, old kept by name",
    async () => {
      const target = join(root, "envs", "copy", "filestore", "odoo_copy");
      // Make the live copy different so the swap is observable.
      const live = pgConnect({ ...conn, database: "odoo_copy" });
      await live`DELETE FROM mail_message`;
      const [{ pid }] = await live<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`; // a session on the live database
      writeFileSync(join(target, "marker"), "old");
      const r = await restoreBackup({
        pg: conn,
        source: { kind: "local", dir: join(localRoot(), "shop", "b-restore") },
        newDbName: "odoo_copy_new",
        owner: roleLogin("odoo_copy", "pw-odoo-copy"),
        jobs: 2,
        filestoreTargetDir: target,
        workDir: join(root, "unused-work"),
        log: memoryLog(),
        manifestTrust: TRUST,
      });
      expect(existsSync(join(root, "unused-work"))).toBe(false);
      const swapped = await swapDatabases(admin, {
        current: "odoo_copy",
        replacement: "odoo_copy_new",
        previousName: "odoo_copy_prev",
      });
      expect(swapped).toEqual({ previous: "odoo_copy_prev" });
      expect(await tableChecksums(conn, "odoo_copy")).toEqual(before);
      expect((await tableChecksums(conn, "odoo_copy_prev")).mail_message).toStartWith("0:");
      expect(await databaseExists(admin, "odoo_copy_new")).toBe(false);
      // The old session was ended; the client's reconnect lands on the restored database.
      const [after] = await live<
        { pid: number; n: number }[]
      >`SELECT pg_backend_pid() AS pid, count(*)::int AS n FROM mail_message`;
      expect(after?.pid).not.toBe(pid);
      expect(after?.n).toBe(39);
      await live.close();
      const fsSwap = await swapFilestore(target, r.stagedFilestoreDir, 1_000);
      expect(fsSwap.previousDir).toBe(join(root, "envs", "copy", "filestore", ".odoo_copy.old-rs"));
      expect(existsSync(join(target, "marker"))).toBe(false);
      expect(readFileSync(join(fsSwap.previousDir ?? "", "marker"), "utf8")).toBe("old");
      // Connections are allowed again on both.
      const again = pgConnect({ ...conn, database: "odoo_copy_prev" });
      expect((await again`SELECT 1 AS x`)[0]).toEqual({ x: 1 });
      await again.close();
      await dropDatabase(admin, "odoo_copy_prev");
    },
    SLOW,
  );

  test(
    "existing target name is a Conflict; nothing is touched",
    async () => {
      await expect(
        restoreBackup({
          pg: conn,
          source: { kind: "local", dir: join(localRoot(), "shop", "b-restore") },
          newDbName: "odoo_shop",
          owner: roleLogin("odoo_copy", "pw-odoo-copy"),
          jobs: 1,
          filestoreTargetDir: join(root, "x", "fs"),
          workDir: root,
          log: memoryLog(),
          manifestTrust: TRUST,
        }),
      ).rejects.toThrow(Conflict);
      expect(await tableChecksums(conn, "odoo_shop")).toEqual(before);
    },
    SLOW,
  );

  test(
    "corrupted dump (same size, one byte flipped) fails verification; no database created, original untouched",
    async () => {
      const src = join(localRoot(), "shop", "b-restore");
      // Same slug and id: a manifest is only trusted where its own backup is stored.
      const bad = join(root, "backups-bad", "shop", "b-restore");
      copyParts(src, bad, ["db.dump", "filestore.tar", "manifest.json"]);
      const bytes = readFileSync(join(bad, "db.dump"));
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      writeFileSync(join(bad, "db.dump"), bytes);
      const target = join(root, "envs", "shop2", "filestore", "odoo_shop");
      const attempt = restoreBackup({
        pg: conn,
        source: { kind: "local", dir: bad },
        newDbName: "odoo_shop_restore",
        owner: envLogin(),
        jobs: 2,
        filestoreTargetDir: target,
        workDir: root,
        log: memoryLog(),
        manifestTrust: TRUST,
      });
      await expect(attempt).rejects.toThrow(/db\.dump does not match its manifest/);
      expect(await databaseExists(admin, "odoo_shop_restore")).toBe(false);
      expect(await tableChecksums(conn, "odoo_shop")).toEqual(before);
      expect(existsSync(join(root, "envs", "shop2", "filestore"))).toBe(false);

      // The same through S3: the downloaded temp file is removed too.
      const store = await openS3(s3Target);
      const prefix = `bad-${randomSuffix()}/shop/b-restore/`;
      try {
        for (const f of ["filestore.tar", "manifest.json"])
          await store.put(`${prefix}${f}`, readFileSync(join(src, f)));
        await store.put(`${prefix}db.dump`, bytes);
      } finally {
        store.close();
      }
      const work = makeTempDir("odooops-work-");
      await expect(
        restoreBackup({
          pg: conn,
          source: { kind: "s3", target: s3Target, prefix },
          newDbName: "odoo_shop_restore",
          owner: envLogin(),
          jobs: 2,
          filestoreTargetDir: target,
          workDir: work,
          log: memoryLog(),
          manifestTrust: TRUST,
        }),
      ).rejects.toThrow(Invalid);
      expect(readdirSync(work)).toEqual([]);
      expect(await databaseExists(admin, "odoo_shop_restore")).toBe(false);
      removeTempDir(work);
    },
    SLOW,
  );

  test(
    "a restored database that does not match the manifest is dropped",
    async () => {
      const src = join(localRoot(), "shop", "b-restore");
      const lying = join(root, "backups-lying", "shop", "b-restore");
      copyParts(src, lying, ["db.dump", "filestore.tar"]);
      const m = await readManifest({ kind: "local", dir: src }, TRUST);
      m.rowCounts.res_partner = (m.rowCounts.res_partner ?? 0) + 1;
      // Signed with the host's key: a manifest that verifies but does not describe the dump.
      writeFileSync(join(lying, "manifest.json"), signManifest(m, KEY));
      const target = join(root, "envs", "shop3", "filestore", "odoo_shop");
      await expect(
        restoreBackup({
          pg: conn,
          source: { kind: "local", dir: lying },
          newDbName: "odoo_shop_restore",
          owner: envLogin(),
          jobs: 2,
          filestoreTargetDir: target,
          workDir: root,
          log: memoryLog(),
          manifestTrust: TRUST,
        }),
      ).rejects.toThrow("res_partner: 300 rows, manifest says 301");
      expect(await databaseExists(admin, "odoo_shop_restore")).toBe(false);
      expect(readdirSync(join(root, "envs", "shop3", "filestore"))).toEqual([]);
    },
    SLOW,
  );

  test(
    "leftovers of a killed restore: Conflict, then cleanupRestore clears them and a retry succeeds",
    async () => {
      const input = {
        pg: conn,
        source: { kind: "s3" as const, target: s3Target, prefix: fromS3.s3?.prefix ?? "" },
        newDbName: "odoo_retry_new",
        owner: roleLogin("odoo_copy", "pw-odoo-copy"),
        jobs: 2,
        filestoreTargetDir: join(root, "envs", "retry", "filestore", "odoo_retry"),
        workDir: join(root, "work-retry"),
        log: memoryLog(),
        manifestTrust: TRUST,
      };
      // What kill -9 in the middle would leave: the new database, a staged dir, a half download.
      const { stagedDir, tmpDump } = restoreScratch(input);
      await admin.unsafe("CREATE DATABASE odoo_retry_new");
      mkdirSync(stagedDir, { recursive: true });
      mkdirSync(input.workDir, { recursive: true });
      writeFileSync(`${tmpDump}.partial`, "half");
      await expect(restoreBackup(input)).rejects.toThrow(Conflict);
      await cleanupRestore(input);
      expect(await databaseExists(admin, "odoo_retry_new")).toBe(false);
      expect(existsSync(stagedDir)).toBe(false);
      expect(readdirSync(input.workDir)).toEqual([]);
      const r = await restoreBackup(input);
      expect(r.stagedFilestoreDir).toBe(stagedDir);
      expect(await tableChecksums(conn, "odoo_retry_new")).toEqual(before);
      await cleanupRestore(input);
    },
    SLOW,
  );

  test(
    "a cancelled restore (AbortSignal) leaves nothing behind",
    async () => {
      const ac = new AbortController();
      const input = {
        pg: conn,
        source: { kind: "local" as const, dir: join(localRoot(), "shop", "b-restore") },
        newDbName: "odoo_cancel_new",
        owner: roleLogin("odoo_copy", "pw-odoo-copy"),
        jobs: 1,
        filestoreTargetDir: join(root, "envs", "cancel", "filestore", "odoo_cancel"),
        workDir: join(root, "work-cancel"),
        log: memoryLog(),
        manifestTrust: TRUST,
        signal: ac.signal,
      };
      const attempt = restoreBackup(input);
      // Cancel once the database exists, i.e. while pg_restore runs.
      for (let i = 0; i < 500 && !(await databaseExists(admin, "odoo_cancel_new")); i++) await Bun.sleep(5);
      ac.abort();
      await expect(attempt).rejects.toThrow();
      expect(await databaseExists(admin, "odoo_cancel_new")).toBe(false);
      expect(existsSync(restoreScratch(input).stagedDir)).toBe(false);
    },
    SLOW,
  );

  test(
    "deleteBackup removes S3 objects and the local dir; refuses what it did not write",
    async () => {
      const dir = join(localRoot(), "shop", "b-restore");
      await expect(deleteBackup({ s3: { target: s3Target, prefix: "shop/" } }, memoryLog())).rejects.toThrow(Invalid);
      writeFileSync(join(dir, "notes.txt"), "mine");
      await expect(deleteBackup({ localDir: dir }, memoryLog())).rejects.toThrow(Conflict);
      rmSync(join(dir, "notes.txt"));
      const r = await deleteBackup(
        { localDir: dir, s3: { target: s3Target, prefix: fromS3.s3?.prefix ?? "" } },
        memoryLog(),
      );
      expect(r).toEqual({ localRemoved: true, s3Objects: 3 });
      expect(existsSync(dir)).toBe(false);
      const store = await openS3(s3Target);
      try {
        expect(await store.list(fromS3.s3?.prefix ?? "")).toEqual([]);
      } finally {
        store.close();
      }
      // Idempotent.
      expect(
        await deleteBackup({ localDir: dir, s3: { target: s3Target, prefix: fromS3.s3?.prefix ?? "" } }, memoryLog()),
      ).toEqual({
        localRemoved: false,
        s3Objects: 0,
      });
    },
    SLOW,
  );
});
