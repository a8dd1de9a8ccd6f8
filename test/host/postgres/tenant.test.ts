/**
 * Issue #13 C1 (tenant → superuser): an env's role plants code in its own database — a
 * `postgres` schema whose views shadow `public` for the superuser's default search_path, views
 * in place of Odoo's tables, triggers on the tables sanitizing writes — and waits for odooops to
 * read facts, back up, clone or sanitize. The code tries what only a superuser may: an OS
 * command (COPY … TO PROGRAM touching a marker file) and ALTER ROLE … SUPERUSER. Every session
 * odooops opens inside the database must be the env's own role, so neither ever happens; the
 * operation reads the real tables, or refuses clearly.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { existsSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { readDbFacts } from "../../../src/db/backup/facts";
import { cloneDatabase } from "../../../src/db/backup/clone";
import { neutralizeDatabase } from "../../../src/db/backup/neutralize";
import { collectPii } from "../../../src/db/backup/pii";
import { runBackup } from "../../../src/db/backup/run";
import { sanitizeCopy } from "../../../src/db/sanitize";
import { installedModules } from "../../../src/odoo/modules";
import { Conflict, Invalid } from "../../../src/errors";
import {
  createRole,
  listDatabases,
  pgAdmin,
  pgConnect,
  TENANT_SEARCH_PATH,
  withTenant,
  type TenantLogin,
} from "../../../src/host/postgres";
import { createOdooDatabase, type OdooFixture } from "../../db/odoo-fixture";
import { memoryLog } from "../../db/quiet-log";
import { startPostgres, type TestPostgres } from "../../support/postgres";
import { makeTempDir, randomSuffix, removeTempDir } from "../../support/tmp";

const SLOW = 120_000;
let pg: TestPostgres;
let admin: SQL;
let root: string;
const markers: string[] = [];

const adminConn = () => ({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
const login = (fx: OdooFixture, database = fx.db): TenantLogin => ({
  host: pg.host,
  port: pg.port,
  user: fx.owner,
  password: fx.ownerPassword,
  database,
});

beforeAll(async () => {
  pg = await startPostgres({ dockerAccess: false });
  admin = pgConnect(adminConn());
  root = makeTempDir("odooops-c1-");
}, SLOW);

afterAll(async () => {
  for (const m of markers) rmSync(m, { force: true });
  await admin?.close();
  await pg?.stop();
  if (root) removeTempDir(root);
}, SLOW);

interface Planted {
  fx: OdooFixture;
  /** Created by the postgres OS user if the code ever ran with superuser rights. */
  marker: string;
}

/** An Odoo-shaped env database owned by its own role, as the project creates them. */
async function envDatabase(tag: string): Promise<Planted> {
  const db = `odoo_c1_${tag}_${randomSuffix(6)}`;
  const fx = await createOdooDatabase(admin, adminConn(), { db, partners: 10, filestoreDir: join(root, db) });
  const marker = `/tmp/odooops-c1-marker-${randomSuffix(16)}`;
  markers.push(marker);
  return { fx, marker };
}

/** Runs `text` as the env's role, in its database: what its Odoo (or an addon) can do. */
async function asTenant(fx: OdooFixture, text: string, database = fx.db): Promise<void> {
  const sql = pgConnect({ host: pg.host, port: pg.port, user: fx.owner, password: fx.ownerPassword, database });
  try {
    await sql.unsafe(text);
  } finally {
    await sql.close();
  }
}

/**
 * The payload: each superuser-only action in its own block, errors swallowed, so the operation
 * itself carries on and the test shows the actions did not happen (not merely that it failed).
 * It also records who ran it.
 */
function payload(schema: string, p: Planted): string {
  return `
CREATE TABLE IF NOT EXISTS public.c1_seen (who text, super boolean);
CREATE FUNCTION ${schema}.c1_pwn() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  INSERT INTO public.c1_seen SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user;
  BEGIN EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'touch ${p.marker}'); EXCEPTION WHEN insufficient_privilege THEN NULL; END;
  BEGIN EXECUTE 'ALTER ROLE ${p.fx.owner} SUPERUSER'; EXCEPTION WHEN insufficient_privilege THEN NULL; END;
  RETURN true;
END $f$;`;
}

const SHADOWS = ["ir_module_module", "ir_config_parameter", "res_partner", "res_users", "ir_attachment", "res_company"];

/** `CREATE SCHEMA postgres`: the superuser's `$user` schema comes first in the default search_path. */
async function plantShadowSchema(p: Planted): Promise<void> {
  await asTenant(
    p.fx,
    `CREATE SCHEMA postgres; ${payload("postgres", p)}
    ${SHADOWS.map((t) => `CREATE VIEW postgres.${t} AS SELECT x.* FROM public.${t} x WHERE postgres.c1_pwn();`).join("\n")}`,
  );
}

/** Triggers on what neutralizing, rebasing and anonymizing write. */
async function plantTriggers(p: Planted, database = p.fx.db): Promise<void> {
  await asTenant(
    p.fx,
    `${payload("public", p)}
    CREATE FUNCTION public.c1_trg() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.c1_pwn(); RETURN NEW; END $f$;
    ${["ir_cron", "ir_config_parameter", "ir_mail_server", "res_partner", "res_users"]
      .map(
        (t) =>
          `CREATE TRIGGER c1 BEFORE INSERT OR UPDATE ON public.${t} FOR EACH ROW EXECUTE FUNCTION public.c1_trg();`,
      )
      .join("\n")}`,
    database,
  );
}

async function isSuperuser(role: string): Promise<boolean | undefined> {
  return (await admin<{ s: boolean }[]>`SELECT rolsuper AS s FROM pg_roles WHERE rolname = ${role}`)[0]?.s;
}

/** Who ran the payload, as it recorded itself (only rows the tenant's own rights could write). */
async function seen(fx: OdooFixture, database = fx.db): Promise<{ who: string; super: boolean }[]> {
  const sql = pgConnect({ ...adminConn(), database });
  try {
    const [t] = await sql`SELECT to_regclass('public.c1_seen') AS t`;
    if (!t?.t) return [];
    return (await sql<{ who: string; super: boolean }[]>`SELECT DISTINCT who, super FROM public.c1_seen`).map((r) => ({
      ...r,
    }));
  } finally {
    await sql.close();
  }
}

async function expectNoTrace(p: Planted, database = p.fx.db): Promise<void> {
  expect(existsSync(p.marker)).toBe(false);
  expect(await isSuperuser(p.fx.owner)).toBe(false);
  for (const row of await seen(p.fx, database)) expect(row).toEqual({ who: p.fx.owner, super: false });
}

describe("C1: a `postgres` schema shadowing public (views over a plpgsql function)", () => {
  test(
    "installedModules, backup facts, the PII needles and a whole backup read the real tables; the payload never runs as the superuser",
    async () => {
      const p = await envDatabase("view");
      await plantShadowSchema(p);

      const mods = await installedModules(login(p.fx));
      expect(mods.get("base")).toEqual({ state: "installed", latestVersion: "17.0.1.3" });
      const facts = await withTenant(login(p.fx), readDbFacts);
      expect(facts.baseInstalled).toBe(true);
      expect(facts.rowCounts.res_partner).toBeGreaterThan(0);
      const needles = await withTenant(login(p.fx), collectPii);
      expect(needles.emails.length).toBeGreaterThan(0);
      const backup = await runBackup({
        pg: { host: pg.host, port: pg.port, user: p.fx.owner, password: p.fx.ownerPassword },
        dbName: p.fx.db,
        filestoreDir: p.fx.filestoreDir,
        envSlug: "c1",
        backupId: `b-c1-${randomSuffix(6)}`,
        targets: { local: join(root, "backups") },
        log: memoryLog(),
        manifestKey: randomBytes(32),
      });
      expect(backup.error).toBeNull();
      expect(backup.manifest?.modules.map((m) => m.name)).toContain("base");

      await expectNoTrace(p);
      // Nothing read through the views at all: the payload never ran, not even with the tenant's rights.
      expect(await seen(p.fx)).toEqual([]);
    },
    SLOW,
  );

  test(
    "views in place of public.ir_module_module / ir_config_parameter are refused with a clear error, and still run nothing",
    async () => {
      const p = await envDatabase("swap");
      await asTenant(
        p.fx,
        `${payload("public", p)}
      ALTER TABLE public.ir_module_module RENAME TO ir_module_module_real;
      CREATE VIEW public.ir_module_module AS SELECT x.* FROM public.ir_module_module_real x WHERE public.c1_pwn();`,
      );
      const refused = installedModules(login(p.fx));
      await expect(refused).rejects.toBeInstanceOf(Invalid);
      await expect(installedModules(login(p.fx))).rejects.toThrow(
        "public.ir_module_module is not a table owned by the environment's role (relkind v",
      );
      await expect(withTenant(login(p.fx), readDbFacts)).rejects.toThrow(
        "public.ir_module_module is not a table owned by the environment's role",
      );
      await asTenant(
        p.fx,
        `ALTER TABLE public.ir_config_parameter RENAME TO ir_config_parameter_real;
      CREATE VIEW public.ir_config_parameter AS SELECT x.* FROM public.ir_config_parameter_real x WHERE public.c1_pwn();`,
      );
      await expect(
        neutralizeDatabase(login(p.fx), { baseUrl: "https://copy.example.test" }, memoryLog()),
      ).rejects.toThrow("public.ir_config_parameter is not a table owned by the environment's role (relkind v");
      await expectNoTrace(p);
      expect(await seen(p.fx)).toEqual([]);
    },
    SLOW,
  );
});

describe("C1: triggers on what sanitizing writes", () => {
  test(
    "anonymize + PII check + neutralize + rebase work; the triggers fire as the env's role only, and can do nothing more",
    async () => {
      const p = await envDatabase("trg");
      await plantTriggers(p);
      await plantShadowSchema(p);

      const r = await sanitizeCopy(
        login(p.fx),
        {
          anonymize: true,
          neutralize: true,
          rebase: true,
          baseUrl: "https://copy.example.test",
          devPassword: "dev-c1-copy",
        },
        memoryLog(),
      );
      expect(r.neutralized?.cronsDisabled).toBeGreaterThan(0);
      expect(r.anonymized?.tables).toContain("res_partner");

      await expectNoTrace(p);
      // The triggers did fire — with exactly the rights the tenant already has.
      expect(await seen(p.fx)).toEqual([{ who: p.fx.owner, super: false }]);
    },
    SLOW,
  );

  test(
    "a template clone of a planted source, then sanitizing the copy as its new owner: no trace, no throwaway role left",
    async () => {
      const p = await envDatabase("clone");
      await plantTriggers(p);
      const stage = `odoo_c1_stage_${randomSuffix(6)}`;
      const stagePw = `pw-${randomSuffix(20)}`;
      await createRole(admin, stage, stagePw);
      const r = await cloneDatabase({
        pg: adminConn(),
        sourceLogin: { host: pg.host, port: pg.port, user: p.fx.owner, password: p.fx.ownerPassword },
        sourceDb: p.fx.db,
        targetDb: stage,
        owner: { host: pg.host, port: pg.port, user: stage, password: stagePw },
        method: "template",
        log: memoryLog(),
      });
      expect(r.method).toBe("template");
      const copy: TenantLogin = { host: pg.host, port: pg.port, user: stage, password: stagePw, database: stage };
      await sanitizeCopy(
        copy,
        {
          anonymize: true,
          neutralize: true,
          rebase: true,
          baseUrl: "https://stage.example.test",
          devPassword: "dev-c1-stage",
        },
        memoryLog(),
      );

      expect(existsSync(p.marker)).toBe(false);
      expect(await isSuperuser(p.fx.owner)).toBe(false);
      expect(await isSuperuser(stage)).toBe(false);
      expect(await seen(p.fx, stage)).toEqual([{ who: stage, super: false }]);
      expect((await admin`SELECT 1 FROM pg_roles WHERE rolname LIKE 'odooops_xfer_%'`).length).toBe(0);
    },
    SLOW,
  );
});

describe("tenant sessions", () => {
  test(
    "search_path is pinned even when the role and the database set their own",
    async () => {
      const p = await envDatabase("path");
      await asTenant(
        p.fx,
        `CREATE SCHEMA postgres; ALTER ROLE ${p.fx.owner} SET search_path = postgres, public; ALTER DATABASE ${p.fx.db} SET search_path = postgres, public;`,
      );
      const path = await withTenant(
        login(p.fx),
        async (sql) => (await sql<{ p: string }[]>`SELECT current_setting('search_path') AS p`)[0]?.p,
      );
      expect(path).toBe(TENANT_SEARCH_PATH);
    },
    SLOW,
  );

  test(
    "a superuser login is refused: a tenant session never has admin rights",
    async () => {
      const attempt = withTenant({ ...adminConn(), database: "postgres" }, async () => "ran");
      await expect(attempt).rejects.toBeInstanceOf(Conflict);
    },
    SLOW,
  );
});

describe("C1: the `postgres` database, which env roles reach too (Odoo lists databases there)", () => {
  test(
    "a catalog-function overload planted in its public schema never runs in an admin session",
    async () => {
      const p = await envDatabase("pgdb");
      // What PostgreSQL 12–14 ship: every role may create objects in public.
      await admin`GRANT CREATE ON SCHEMA public TO PUBLIC`;
      try {
        await asTenant(
          p.fx,
          `${payload("public", p)}
        CREATE FUNCTION public.starts_with(name, text) RETURNS boolean LANGUAGE plpgsql AS $f$
        BEGIN PERFORM public.c1_pwn(); RETURN pg_catalog.starts_with($1::text, $2); END $f$;`,
          "postgres",
        );
        const sql = pgAdmin(adminConn());
        try {
          expect(await listDatabases(sql, "odoo_c1_pgdb_")).toEqual([p.fx.db]);
        } finally {
          await sql.close();
        }
        expect(existsSync(p.marker)).toBe(false);
        expect(await isSuperuser(p.fx.owner)).toBe(false);
        expect(await seen(p.fx, "postgres")).toEqual([]);
      } finally {
        await admin.unsafe(
          "DROP FUNCTION IF EXISTS public.starts_with(name, text); DROP FUNCTION IF EXISTS public.c1_pwn(); DROP TABLE IF EXISTS public.c1_seen",
        );
        await admin`REVOKE CREATE ON SCHEMA public FROM PUBLIC`;
      }
    },
    SLOW,
  );
});
