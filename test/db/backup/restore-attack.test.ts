/**
 * Attack test for restores and clones of tenant-derived data (issue #13, C2), on a real
 * PostgreSQL 15 cluster through restoreBackup and cloneDatabase: the source env's role owns a
 * table whose CHECK constraint calls its own function, harmless when created, then replaced by
 * one that runs `RESET ROLE` and creates a superuser. pg_restore loads the rows with COPY, which
 * evaluates the constraint with the restoring session's rights: under a superuser session with
 * `--role` (SET ROLE), RESET ROLE made it superuser. Loaded as the target env's own role, the
 * copy completes with all its data and the superuser action fails inside the function.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { cloneDatabase, restoreBackup, runBackup } from "../../../src/db/backup";
import type { PgAdmin } from "../../../src/db/backup/commands";
import { createRole, databaseExists, pgConnect } from "../../../src/host/postgres";
import { startPostgres, type TestPostgres } from "../../support/postgres";
import { makeTempDir, randomSuffix, removeTempDir } from "../../support/tmp";
import { createOdooDatabase, tableChecksums, type OdooFixture } from "../odoo-fixture";
import { memoryLog } from "../quiet-log";

const SLOW = 120_000;
const evil = `evil_${randomSuffix(8)}`;
const target = { user: "odoo_target", password: `pw-target-${randomSuffix()}` };
const KEY = randomBytes(32);

let pg: TestPostgres;
let admin: SQL;
let conn: PgAdmin;
let root: string;
let fx: OdooFixture;
let source: Record<string, string>;

async function superusers(): Promise<string[]> {
  return (await admin<{ r: string }[]>`SELECT rolname AS r FROM pg_roles WHERE rolsuper ORDER BY 1`).map((r) => r.r);
}

async function roleExists(name: string): Promise<boolean> {
  return (await admin`SELECT 1 FROM pg_roles WHERE rolname = ${name}`).length > 0;
}

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  conn = { host: pg.host, port: pg.port, user: pg.user, password: pg.password };
  admin = pgConnect(conn);
  root = makeTempDir("odooops-restore-attack-");
  fx = await createOdooDatabase(admin, conn, {
    db: "odoo_src",
    partners: 20,
    filestoreDir: join(root, "src", "filestore", "odoo_src"),
  });
  // What the tenant can do in its own database with its own role.
  const tenant = pgConnect({ ...conn, user: fx.owner, password: fx.ownerPassword, database: fx.db });
  try {
    await tenant.unsafe(`
      CREATE FUNCTION public.x_ok(i integer) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN true; END $$;
      CREATE TABLE public.x_probe (id integer PRIMARY KEY CHECK (public.x_ok(id)));
      INSERT INTO public.x_probe SELECT generate_series(1, 5);
      CREATE OR REPLACE FUNCTION public.x_ok(i integer) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
        BEGIN
          EXECUTE 'RESET ROLE';
          EXECUTE 'CREATE ROLE ${evil} SUPERUSER LOGIN';
        EXCEPTION WHEN others THEN NULL;
        END;
        RETURN true;
      END $$;`);
  } finally {
    await tenant.close();
  }
  await createRole(admin, target.user, target.password);
  source = await tableChecksums(conn, fx.db);
}, SLOW);

// Each test starts without the role, so each proves on its own that its copy did not create it.
beforeEach(async () => {
  await admin.unsafe(`DROP ROLE IF EXISTS ${evil}`);
});

afterAll(async () => {
  await admin?.close();
  await pg?.stop();
  if (root) removeTempDir(root);
}, SLOW);

describe("a tenant's function in its data runs while the copy loads", () => {
  test(
    "restore of its backup: every row restored, no superuser created, the target role stays plain",
    async () => {
      const before = await superusers();
      const backupsRoot = join(root, "backups");
      const b = await runBackup({
        pg: { ...conn, user: fx.owner, password: fx.ownerPassword },
        manifestKey: KEY,
        dbName: fx.db,
        filestoreDir: fx.filestoreDir,
        envSlug: "src",
        backupId: "b-attack",
        targets: { local: backupsRoot },
        log: memoryLog(),
      });
      expect(b.status).toBe("completed");
      const r = await restoreBackup({
        pg: conn,
        source: { kind: "local", dir: join(backupsRoot, "src", "b-attack") },
        newDbName: "odoo_target_new",
        owner: { ...conn, ...target },
        manifestTrust: { key: KEY, acceptUnsigned: false },
        jobs: 2,
        filestoreTargetDir: join(root, "target", "filestore", "odoo_target"),
        workDir: join(root, "work"),
        log: memoryLog(),
      });
      expect(r.checks.baseInstalled).toBe(true);
      expect(await tableChecksums(conn, "odoo_target_new")).toEqual(source);
      expect(await roleExists(evil)).toBe(false);
      expect(await superusers()).toEqual(before);
    },
    SLOW,
  );

  test(
    "streamed clone: every row copied, no superuser created",
    async () => {
      const before = await superusers();
      const r = await cloneDatabase({
        pg: conn,
        sourceLogin: { ...conn, user: fx.owner, password: fx.ownerPassword },
        sourceDb: fx.db,
        targetDb: "odoo_target_clone",
        owner: { ...conn, ...target },
        method: "stream",
        log: memoryLog(),
      });
      expect(r.method).toBe("stream");
      expect(await databaseExists(admin, "odoo_target_clone")).toBe(true);
      expect(await tableChecksums(conn, "odoo_target_clone")).toEqual(source);
      expect(await roleExists(evil)).toBe(false);
      expect(await superusers()).toEqual(before);
    },
    SLOW,
  );
});
