import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readRepoModules } from "../../src/odoo/manifest";
import { planModuleUpdates } from "../../src/deploy/modules";
import { installedModules } from "../../src/odoo/modules";
import { Unavailable } from "../../src/errors";
import { run } from "../../src/exec/run";
import { docker } from "../../src/host/docker";
import { createDatabase, createRole, pgConnect } from "../../src/host/postgres";
import { createOdooDatabase } from "../db/odoo-fixture";
import { removeByLabel, testLabel } from "../support/docker";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";

const SLOW = 300_000;
const d = docker({ binary: "docker" });

describe("installedModules against real PostgreSQL", () => {
  const label = testLabel();
  const sfx = randomSuffix();
  const standinDb = `odoo_mods_${sfx}`;
  const password = `pw-${randomSuffix(20)}`;
  let pg: TestPostgres;
  let admin: SQL;
  let tmp: string;
  let addons: string;

  const writeAddon = (version: string, extra = "") => {
    mkdirSync(join(addons, "acme_sales"), { recursive: true });
    writeFileSync(
      join(addons, "acme_sales", "__manifest__.py"),
      `# Acme\n{\n  'name': 'Acme Sales',\n  'version': '${version}',\n  'depends': ['sale'],\n}\n`,
    );
    writeFileSync(join(addons, "acme_sales", "__init__.py"), extra);
  };

  /** The stand-in Odoo, run as the env's role against the test cluster, as a deploy would. */
  const odoo = (args: string[]) =>
    run({
      ...d.run({
        image: "odooops-test/odoo:17.0",
        rm: true,
        labels: label.labels,
        env: { HOST: pg.dockerHost!, PORT: String(pg.port), USER: standinDb },
        secrets: { PASSWORD: password },
        mounts: [{ source: addons, target: "/mnt/extra-addons", readonly: true }],
        args: ["-d", standinDb, ...args, "--stop-after-init"],
      }),
      timeoutMs: 180_000,
    });

  beforeAll(async () => {
    pg = await startPostgres();
    if (!pg.dockerHost) throw new Error("docker0 has no address: is dockerd running? (bash scripts/start-services)");
    admin = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
    tmp = makeTempDir("odooops-mods-");
    addons = join(tmp, "addons");
    writeAddon("1.0");
    mkdirSync(join(addons, "acme_extra"));
    writeFileSync(
      join(addons, "acme_extra", "__manifest__.py"),
      "{'name': 'Extra', 'version': '0.1', 'depends': ['acme_sales']}",
    );
    await createRole(admin, standinDb, password);
    await createDatabase(admin, standinDb, standinDb);
  }, SLOW);

  afterAll(async () => {
    await removeByLabel(`${label.key}=${label.value}`);
    await admin?.close().catch(() => undefined);
    await pg?.stop();
    if (tmp) removeTempDir(tmp);
  }, SLOW);

  test(
    "a database initialised by the stand-in: states and versions as Odoo writes them",
    async () => {
      await odoo(["-i", "base,sale,acme_sales", "--without-demo=all"]);
      const mods = await installedModules({
        host: pg.host,
        port: pg.port,
        user: standinDb,
        password,
        database: standinDb,
      });
      expect(mods.get("base")).toEqual({ state: "installed", latestVersion: "17.0.1.3" });
      expect(mods.get("sale")).toEqual({ state: "installed", latestVersion: "17.0.1.2" });
      expect(mods.get("acme_sales")).toEqual({ state: "installed", latestVersion: "17.0.1.0" });
      // Modules on the addons path that were not asked for are known but not installed.
      expect(mods.get("acme_extra")).toEqual({ state: "uninstalled", latestVersion: null });
    },
    SLOW,
  );

  test(
    "the plan agrees with Odoo's own version handling: unchanged, then a bump, then -u settles it",
    async () => {
      const pgLogin = { host: pg.host, port: pg.port, user: standinDb, password };
      let repo = readRepoModules(addons, "17.0");
      let plan = planModuleUpdates({
        repo,
        installed: await installedModules({ ...pgLogin, database: standinDb }),
        previousChecksums: null,
        install: [],
      });
      expect(plan).toEqual({ update: [], install: [], unchanged: ["acme_sales"] });
      expect(repo.map((m) => m.name)).toEqual(["acme_extra", "acme_sales"]);

      writeAddon("1.1");
      repo = readRepoModules(addons, "17.0");
      plan = planModuleUpdates({
        repo,
        installed: await installedModules({ ...pgLogin, database: standinDb }),
        previousChecksums: null,
        install: ["contacts", "acme_extra"],
      });
      expect(plan.update).toEqual([{ name: "acme_sales", from: "17.0.1.0", to: "17.0.1.1", reason: "version" }]);
      expect(plan.install).toEqual(["acme_extra"]);

      await odoo(["-u", plan.update.map((u) => u.name).join(","), "-i", plan.install.join(",")]);
      const after = await installedModules({ ...pgLogin, database: standinDb });
      expect(after.get("acme_sales")).toEqual({ state: "installed", latestVersion: "17.0.1.1" });
      expect(after.get("acme_extra")).toEqual({ state: "installed", latestVersion: "17.0.0.1" });
      const checksums = Object.fromEntries(repo.map((m) => [m.name, m.checksum]));
      expect(
        planModuleUpdates({
          repo,
          installed: after,
          previousChecksums: checksums,
          install: ["contacts", "acme_extra"],
        }),
      ).toEqual({
        update: [],
        install: [],
        unchanged: ["acme_extra", "acme_sales"],
      });

      // Code changed, version not bumped: only the checksum tells.
      writeAddon("1.1", "from . import models\n");
      repo = readRepoModules(addons, "17.0");
      expect(planModuleUpdates({ repo, installed: after, previousChecksums: checksums, install: [] }).update).toEqual([
        { name: "acme_sales", from: "17.0.1.1", to: "17.0.1.1", reason: "content" },
      ]);
    },
    SLOW,
  );

  test(
    "the Odoo-shaped fixture database",
    async () => {
      const db = `odoo_fix_${sfx}`;
      const fx = await createOdooDatabase(
        admin,
        { host: pg.host, port: pg.port, user: pg.user, password: pg.password },
        {
          db,
          partners: 5,
          filestoreDir: join(tmp, "filestore", db),
        },
      );
      const mods = await installedModules({
        host: pg.host,
        port: pg.port,
        user: fx.owner,
        password: fx.ownerPassword,
        database: db,
      });
      expect(Object.fromEntries(mods)).toEqual({
        base: { state: "installed", latestVersion: "17.0.1.3" },
        contacts: { state: "installed", latestVersion: "17.0.1.0" },
        crm: { state: "uninstalled", latestVersion: null },
        mail: { state: "installed", latestVersion: "17.0.1.15" },
        sale: { state: "installed", latestVersion: "17.0.1.2" },
        web: { state: "installed", latestVersion: "17.0.1.0" },
        website: { state: "uninstalled", latestVersion: null },
      });
    },
    SLOW,
  );

  test(
    "a database Odoo never initialised has no modules",
    async () => {
      const db = `odoo_empty_${sfx}`;
      await createDatabase(admin, db, standinDb);
      expect(
        (await installedModules({ host: pg.host, port: pg.port, user: standinDb, password, database: db })).size,
      ).toBe(0);
    },
    SLOW,
  );

  test(
    "unreachable or refused: Unavailable naming the database",
    async () => {
      const refused = installedModules({
        host: pg.host,
        port: pg.port,
        user: standinDb,
        password: "wrong-password",
        database: standinDb,
      });
      await expect(refused).rejects.toBeInstanceOf(Unavailable);
      await expect(
        installedModules({
          host: pg.host,
          port: pg.port,
          user: standinDb,
          password: "wrong-password",
          database: standinDb,
        }),
      ).rejects.toThrow(`cannot read the modules of database ${standinDb}`);
    },
    SLOW,
  );
});
