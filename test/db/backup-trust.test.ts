/**
 * What a tenant or a storage writer can do to backups, against a real PostgreSQL 15 cluster and
 * a real s3rver:
 *   H5 — a symbolic link in the env's filestore (or the filestore itself a link) must not put a
 *        host file into a backup or an export, and a restore must not create links;
 *   M6 — a manifest altered in storage (with parts to match it), unsigned, signed with another
 *        key, or another backup's, is refused before anything is restored.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { runBackup, restoreBackup, readManifest, type BackupManifest, type BackupResult } from "../../src/db/backup";
import type { PgAdmin } from "../../src/db/backup/commands";
import { odooDumpManifest, writeOdooZip } from "../../src/db/odoo-zip";
import { Invalid } from "../../src/errors";
import { run } from "../../src/exec/run";
import { createRole, databaseExists } from "../../src/host/postgres";
import { openS3 } from "../../src/host/s3/client";
import { type BackupStores, startBackupStores } from "../support/backup-stores";
import type { TestPostgres } from "../support/postgres";
import type { TestS3 } from "../support/s3";
import { randomSuffix } from "../support/tmp";
import { createOdooDatabase, type OdooFixture } from "./odoo-fixture";
import { memoryLog } from "./quiet-log";

const SLOW = 120_000;
const KEY = randomBytes(32);
const TRUST = { key: KEY, acceptUnsigned: false };

let pg: TestPostgres;
let s3: TestS3;
let admin: SQL;
let conn: PgAdmin;
let root: string;
let fx: OdooFixture;
let stores: BackupStores | undefined;
/** A host directory holding a secret the daemon (root) can read. */
let secretDir: string;
let secret: string;

beforeAll(async () => {
  stores = await startBackupStores("odooops-backup-trust-");
  ({ pg, s3, conn, admin, root } = stores);
  fx = await createOdooDatabase(admin, conn, {
    db: "odoo_tenant",
    partners: 20,
    filestoreDir: join(root, "envs", "tenant", "data", "filestore", "odoo_tenant"),
  });
  await createRole(admin, "odoo_target", "pw-odoo-target");
  secretDir = join(root, "etc-odooops");
  mkdirSync(secretDir, { mode: 0o700 });
  secret = `HOST_SECRET_${randomSuffix(24)}`;
  writeFileSync(join(secretDir, "secret.key"), `${secret}\n`, { mode: 0o600 });
}, SLOW);

afterAll(async () => {
  await stores?.stop();
}, SLOW);

/** The env's own role: backups log in as it, never as the admin. */
function envLogin() {
  return { host: pg.host, port: pg.port, user: fx.owner, password: fx.ownerPassword };
}

function backup(
  id: string,
  filestoreDir: string,
  targets: Parameters<typeof runBackup>[0]["targets"],
): Promise<BackupResult> {
  return runBackup({
    pg: envLogin(),
    dbName: fx.db,
    filestoreDir,
    envSlug: "tenant",
    backupId: id,
    targets,
    log: memoryLog(),
    manifestKey: KEY,
  });
}

function restoreInput(source: Parameters<typeof restoreBackup>[0]["source"], name: string, trust = TRUST) {
  return {
    pg: conn,
    source,
    newDbName: `odoo_target_${name}`,
    owner: { host: pg.host, port: pg.port, user: "odoo_target", password: "pw-odoo-target" },
    jobs: 2,
    filestoreTargetDir: join(root, "envs", `target-${name}`, "data", "filestore", "odoo_target"),
    workDir: join(root, `work-${name}`),
    log: memoryLog(),
    manifestTrust: trust,
  };
}

/** Every path under `dir` that is a symbolic link, and whether any file there holds the secret. */
function inspectTree(dir: string): { links: string[]; secretFound: boolean } {
  const links: string[] = [];
  let secretFound = false;
  const walk = (d: string, prefix: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) links.push(`${prefix}${name}`);
      else if (st.isDirectory()) walk(p, `${prefix}${name}/`);
      else if (readFileSync(p).includes(secret)) secretFound = true;
    }
  };
  walk(dir, "");
  return { links, secretFound };
}

async function tarEntries(file: string): Promise<string[]> {
  return (await run({ argv: ["tar", "-tvf", file] })).stdout.split("\n").filter((l) => l !== "");
}

describe("H5: links in a tenant's filestore", () => {
  test(
    "links inside the filestore: the archive holds no host file, and a restore creates no link",
    async () => {
      const fsDir = join(root, "envs", "inner", "data", "filestore", "odoo_tenant");
      mkdirSync(join(fsDir, ".."), { recursive: true });
      await run({ argv: ["cp", "-a", fx.filestoreDir, fsDir] });
      const sub = readdirSync(fsDir)[0] ?? "";
      symlinkSync(secretDir, join(fsDir, sub, "etc"));
      symlinkSync(join(secretDir, "secret.key"), join(fsDir, "secret.key"));
      const local = join(root, "backups-inner");
      const r = await backup("b-inner", fsDir, { local });
      expect(r.status).toBe("completed");
      const tar = join(local, "tenant", "b-inner", "filestore.tar");
      expect(readFileSync(tar).includes(secret)).toBe(false);
      // Stored as links at most, never as the files they name.
      expect((await tarEntries(tar)).filter((l) => l.includes("secret.key") && !l.startsWith("l"))).toEqual([]);

      const input = restoreInput({ kind: "local", dir: join(local, "tenant", "b-inner") }, "inner");
      const restored = await restoreBackup(input);
      expect(inspectTree(restored.stagedFilestoreDir)).toEqual({ links: [], secretFound: false });
      expect(existsSync(join(restored.stagedFilestoreDir, sub))).toBe(true);
      expect(input.log.lines.some((l) => l.includes("links or special files; not restored"))).toBe(true);
    },
    SLOW,
  );

  test(
    "the filestore dir itself replaced by a link to a host dir: the backup fails, nothing of the host is archived",
    async () => {
      const fsRoot = join(root, "envs", "swapped", "data", "filestore");
      mkdirSync(fsRoot, { recursive: true });
      symlinkSync(secretDir, join(fsRoot, "odoo_tenant"));
      const local = join(root, "backups-swapped");
      const r = await backup("b-swapped", join(fsRoot, "odoo_tenant"), { local });
      const tar = join(local, "tenant", "b-swapped", "filestore.tar");
      const leaked = existsSync(tar) && readFileSync(tar).includes(secret);
      expect(leaked).toBe(false);
      expect(r.status).toBe("failed");
      expect(r.error).toContain("symbolic link");

      // The parent swapped instead: same outcome.
      const parentLinked = join(root, "envs", "swapped2", "data");
      mkdirSync(parentLinked, { recursive: true });
      mkdirSync(join(secretDir, "odoo_tenant"), { recursive: true });
      writeFileSync(join(secretDir, "odoo_tenant", "copy.key"), secret);
      symlinkSync(secretDir, join(parentLinked, "filestore"));
      const r2 = await backup("b-swapped2", join(parentLinked, "filestore", "odoo_tenant"), { local });
      const tar2 = join(local, "tenant", "b-swapped2", "filestore.tar");
      expect(existsSync(tar2) && readFileSync(tar2).includes(secret)).toBe(false);
      expect(r2.status).toBe("failed");
      rmSync(join(secretDir, "odoo_tenant"), { recursive: true });
    },
    SLOW,
  );

  test(
    "export zip: a linked filestore dir is refused, links inside are left out",
    async () => {
      const manifest = odooDumpManifest(fx.db, "17.0", 150000, []);
      const fsRoot = join(root, "envs", "export", "data", "filestore");
      mkdirSync(fsRoot, { recursive: true });
      symlinkSync(secretDir, join(fsRoot, "odoo_tenant"));
      const out = join(root, "export-linked.zip");
      const attempt = writeOdooZip({
        pg: conn,
        dbName: fx.db,
        filestoreDir: join(fsRoot, "odoo_tenant"),
        manifest,
        out,
      }).then(
        () => readFileSync(out).includes(secret),
        (e: unknown) => e,
      );
      expect(await attempt).toBeInstanceOf(Invalid);
      expect(existsSync(out)).toBe(false);

      rmSync(join(fsRoot, "odoo_tenant"));
      await run({ argv: ["cp", "-a", fx.filestoreDir, join(fsRoot, "odoo_tenant")] });
      symlinkSync(join(secretDir, "secret.key"), join(fsRoot, "odoo_tenant", "secret.key"));
      symlinkSync(secretDir, join(fsRoot, "odoo_tenant", "etc"));
      const out2 = join(root, "export-inner.zip");
      const { files } = await writeOdooZip({
        pg: conn,
        dbName: fx.db,
        filestoreDir: join(fsRoot, "odoo_tenant"),
        manifest,
        out: out2,
      });
      expect(files).toBe(fx.filestoreFiles);
      expect(readFileSync(out2).includes(secret)).toBe(false);
      const listed = (
        await run({
          argv: [
            "python3",
            "-I",
            "-c",
            "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
            out2,
          ],
        })
      ).stdout;
      expect(listed).not.toContain("secret.key");
      expect(listed).not.toContain("filestore/etc");
    },
    SLOW,
  );
});

describe("M6: manifests are authenticated before a restore", () => {
  let good: BackupResult;
  let s3Target: Awaited<ReturnType<TestS3["target"]>>;
  const localRoot = () => join(root, "backups-m6");

  beforeAll(async () => {
    s3Target = await s3.target(`m6-${randomSuffix()}`);
    good = await backup("b-good", fx.filestoreDir, { local: localRoot(), s3: s3Target });
    expect(good.status).toBe("completed");
  }, SLOW);

  /** A filestore archive of the attacker's choosing, and a manifest changed to match it. */
  function forged(): { tar: Buffer; manifest: BackupManifest } {
    const plant = join(root, `plant-${randomSuffix()}`);
    mkdirSync(plant);
    writeFileSync(join(plant, "planted.txt"), "not from this env");
    const tar = Buffer.from(Bun.spawnSync(["tar", "-C", plant, "-cf", "-", "."]).stdout);
    const m = structuredClone(good.manifest) as BackupManifest;
    m.parts.filestore = {
      file: "filestore.tar",
      size: tar.length,
      sha256: createHash("sha256").update(tar).digest("hex"),
    };
    return { tar, manifest: m };
  }

  async function refused(input: ReturnType<typeof restoreInput>, why: string | RegExp): Promise<void> {
    await expect(restoreBackup(input)).rejects.toThrow(why);
    expect(await databaseExists(admin, input.newDbName)).toBe(false);
    expect(existsSync(join(input.filestoreTargetDir, ".."))).toBe(false);
  }

  test(
    "a local copy whose filestore and manifest sha256/size were both replaced: refused, nothing created",
    async () => {
      const dir = join(root, "backups-forged", "tenant", "b-good");
      mkdirSync(dir, { recursive: true });
      const { tar, manifest } = forged();
      writeFileSync(join(dir, "db.dump"), readFileSync(join(localRoot(), "tenant", "b-good", "db.dump")));
      writeFileSync(join(dir, "filestore.tar"), tar);
      // The stored text, one field changed: the signature stays the old one.
      const stored = JSON.parse(readFileSync(join(localRoot(), "tenant", "b-good", "manifest.json"), "utf8")) as Record<
        string,
        unknown
      >;
      writeFileSync(join(dir, "manifest.json"), JSON.stringify({ ...stored, parts: manifest.parts }));
      await refused(restoreInput({ kind: "local", dir }, "forged_local"), "signature does not match");
    },
    SLOW,
  );

  test(
    "the same in S3: refused",
    async () => {
      const prefix = `forged-${randomSuffix()}/tenant/b-good/`;
      const { tar, manifest } = forged();
      const store = await openS3(s3Target);
      try {
        const stored = JSON.parse(
          new TextDecoder().decode(await store.getBytes(`${good.s3?.prefix}manifest.json`)),
        ) as Record<string, unknown>;
        await store.put(`${prefix}db.dump`, await store.getBytes(`${good.s3?.prefix}db.dump`));
        await store.put(`${prefix}filestore.tar`, tar);
        await store.put(`${prefix}manifest.json`, JSON.stringify({ ...stored, parts: manifest.parts }));
      } finally {
        store.close();
      }
      await refused(restoreInput({ kind: "s3", target: s3Target, prefix }, "forged_s3"), "signature does not match");
    },
    SLOW,
  );

  test(
    "unsigned: refused by default, restored with acceptUnsigned (and a warning); another key's signature: always refused",
    async () => {
      const src = join(localRoot(), "tenant", "b-good");
      const dir = join(root, "backups-unsigned", "tenant", "b-good");
      mkdirSync(dir, { recursive: true });
      for (const f of ["db.dump", "filestore.tar"]) writeFileSync(join(dir, f), readFileSync(join(src, f)));
      const { hmac, ...unsigned } = JSON.parse(readFileSync(join(src, "manifest.json"), "utf8")) as Record<
        string,
        unknown
      >;
      expect(hmac).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
      writeFileSync(join(dir, "manifest.json"), JSON.stringify(unsigned));
      await refused(restoreInput({ kind: "local", dir }, "unsigned"), "not signed");
      const accepting = restoreInput({ kind: "local", dir }, "unsigned_ok", { key: KEY, acceptUnsigned: true });
      const r = await restoreBackup(accepting);
      expect(r.checks.baseInstalled).toBe(true);
      expect(accepting.log.lines.some((l) => l.includes("not signed"))).toBe(true);

      // The same backup made on a host with another key.
      const elsewhere = join(root, "backups-otherhost");
      const otherHost = await runBackup({
        pg: envLogin(),
        dbName: fx.db,
        filestoreDir: fx.filestoreDir,
        envSlug: "tenant",
        backupId: "b-good",
        targets: { local: elsewhere },
        log: memoryLog(),
        manifestKey: randomBytes(32),
      });
      expect(otherHost.status).toBe("completed");
      const otherDir = join(elsewhere, "tenant", "b-good");
      await refused(
        restoreInput({ kind: "local", dir: otherDir }, "otherkey", { key: KEY, acceptUnsigned: true }),
        "signature does not match",
      );
    },
    SLOW,
  );

  test(
    "another backup's signed manifest and parts put at this backup's place: refused",
    async () => {
      const other = await backup("b-other", fx.filestoreDir, { local: localRoot() });
      expect(other.status).toBe("completed");
      const dir = join(root, "backups-moved", "tenant", "b-good");
      mkdirSync(join(dir, ".."), { recursive: true });
      renameSync(join(localRoot(), "tenant", "b-other"), dir);
      await expect(readManifest({ kind: "local", dir }, TRUST)).rejects.toThrow(
        "is backup b-other of tenant, not the one stored here",
      );
      await refused(restoreInput({ kind: "local", dir }, "moved"), "not the one stored here");
    },
    SLOW,
  );
});
