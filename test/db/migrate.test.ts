/**
 * `db migrate` end to end on a real production env (PostgreSQL, docker, nginx, the Odoo
 * stand-in): the plan compares installed versions with the serving image's manifests, a dry run
 * changes nothing, a migration backs up first, runs `-u` and leaves the env serving.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import { imageManifestsCommand, parseImageManifests, planMigration } from "../../src/db/migrate";
import { environments } from "../../src/env/env.sql";
import { run } from "../../src/exec/run";
import type { JobView } from "../../src/jobs/view";
import { startEnvHost } from "../support/env-host";
import { makeTempDir, randomSuffix } from "../support/tmp";
import { answer } from "./serving";

let host: Awaited<ReturnType<typeof startEnvHost>>;
const slug = `mg-${randomSuffix(6)}`;
const failing = `mf-${randomSuffix(6)}`;
const IMAGE = "odooops-test/odoo:17.0";
/** The stand-in plus an extra addon whose update fails (the stand-in's failure-injection key). */
const FAILING_IMAGE = `odooops-test/migrate-fail-${randomSuffix(6)}:17.0`;
/** COPY, not RUN: /mnt/extra-addons is a VOLUME in Odoo images, RUN changes to it are discarded. */
const DOCKERFILE = `FROM ${IMAGE}\nCOPY x_mig /mnt/extra-addons/x_mig\n`;
const MANIFEST = "{'name': 'x_mig', 'version': '1.1', 'depends': ['base'], 'x_standin_migration_fail': True}\n";
let context = "";

beforeAll(async () => {
  host = await startEnvHost({ configOverrides: { tiers: { production: { cpus: 1, memoryMb: 1024, workers: 0 } } } });
  context = makeTempDir("migrate-image-");
  mkdirSync(join(context, "x_mig"));
  writeFileSync(join(context, "x_mig", "__manifest__.py"), MANIFEST);
  writeFileSync(join(context, "Dockerfile"), DOCKERFILE);
  await run({ argv: ["docker", "build", "-q", "-t", FAILING_IMAGE, context], timeoutMs: 120_000 });
}, 180_000);

afterAll(async () => {
  await host?.stop();
  await run({ argv: ["docker", "rmi", "-f", FAILING_IMAGE] }, { nothrow: true });
  if (context) rmSync(context, { recursive: true, force: true });
}, 120_000);

const env = () => host.env(slug);

const envSql = <T>(fn: (sql: SQL) => Promise<T>) => host.pg.query(env().dbName, fn);

async function modules(): Promise<Record<string, string>> {
  const rows = await envSql(
    (sql) =>
      sql<
        { name: string; state: string; v: string | null }[]
      >`SELECT name, state, latest_version AS v FROM ir_module_module WHERE state <> 'uninstalled' ORDER BY name`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, `${r.state}@${r.v ?? ""}`]));
}

async function migrate(dryRun: boolean): Promise<JobView> {
  const res = await host.api.request(`/api/v1/environments/${slug}/db/migrate`, {
    method: "POST",
    body: JSON.stringify({ dryRun }),
  });
  expect(res.status).toBe(202);
  const job = (await res.json()) as JobView;
  expect(job.kind).toBe("db.migrate");
  return host.waitJob(job.id);
}

describe("the serving image's manifests", () => {
  test("read from the stand-in image: its bundled modules with their versions", async () => {
    const r = await run(imageManifestsCommand(host.deps.config.docker, IMAGE));
    const mods = parseImageManifests(r.stdout, "17.0", IMAGE);
    expect(mods.map((m) => `${m.name}@${m.version}`)).toEqual([
      "base@17.0.1.3",
      "contacts@17.0.1.0",
      "mail@17.0.1.15",
      "sale@17.0.1.2",
      "web@17.0.1.0",
    ]);
    expect(mods.every((m) => m.installable)).toBe(true);
  }, 60_000);
});

describe("db migrate on a real production environment", () => {
  test("an env", async () => {
    const res = await host.api.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: slug, tier: "production", modules: ["base", "web"] }),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { job: JobView };
    expect((await host.waitJob(body.job.id)).status).toBe("succeeded");
  }, 240_000);

  test("up to date: the dry run lists nothing", async () => {
    const job = await migrate(true);
    expect(job.status).toBe("succeeded");
    expect(job.result).toMatchObject({ dryRun: true, image: IMAGE, update: [], modules: [] });
  }, 120_000);

  test("an older installed version: the dry run lists it from → to and changes nothing", async () => {
    await envSql((sql) => sql`UPDATE ir_module_module SET latest_version = '17.0.0.9' WHERE name = 'web'`);
    const before = await modules();
    const backupsBefore = host.deps.db.select().from(backups).all().length;
    const job = await migrate(true);
    expect(job.status).toBe("succeeded");
    expect(job.result).toMatchObject({
      dryRun: true,
      update: [{ name: "web", from: "17.0.0.9", to: "17.0.1.0", reason: "version" }],
      modules: ["web"],
    });
    expect(job.steps.filter((s) => s.status !== "skipped").map((s) => s.name)).toEqual(["plan"]);
    expect(await modules()).toEqual(before);
    expect(host.deps.db.select().from(backups).all().length).toBe(backupsBefore);
  }, 120_000);

  test("the migration backs production up first, updates the module, and the env serves again", async () => {
    const containerStartedBefore = (
      await run({ argv: ["docker", "inspect", "-f", "{{.State.StartedAt}}", env().containerName!] })
    ).stdout.trim();
    const job = await migrate(false);
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    expect(job.result).toMatchObject({ dryRun: false, modules: ["web"] });
    const preBackupId = String(job.result?.preBackupId);
    const row = host.deps.db.select().from(backups).where(eq(backups.id, preBackupId)).get();
    expect(row).toMatchObject({ status: "completed", kind: "pre_deploy", envId: env().id });
    // The backup holds the database as it was before the update.
    expect((row?.manifest as { modules: { name: string; version: string }[] } | undefined)?.modules).toContainEqual({
      name: "web",
      version: "17.0.0.9",
    });
    expect((await modules()).web).toBe("installed@17.0.1.0");
    const containerStartedAfter = (
      await run({ argv: ["docker", "inspect", "-f", "{{.State.StartedAt}}", env().containerName!] })
    ).stdout.trim();
    expect(containerStartedAfter).not.toBe(containerStartedBefore);
    expect(await answer(host, env().domain, "/web/health?db_server_status=1")).toMatchObject({ status: 200 });
  }, 240_000);

  test("nothing left to do: the migration takes no backup and does not restart Odoo", async () => {
    const backupsBefore = host.deps.db.select().from(backups).all().length;
    const startedBefore = (
      await run({ argv: ["docker", "inspect", "-f", "{{.State.StartedAt}}", env().containerName!] })
    ).stdout.trim();
    const job = await migrate(false);
    expect(job.status).toBe("succeeded");
    expect(job.result).toMatchObject({ modules: [], preBackupId: null });
    expect(host.deps.db.select().from(backups).all().length).toBe(backupsBefore);
    expect(
      (await run({ argv: ["docker", "inspect", "-f", "{{.State.StartedAt}}", env().containerName!] })).stdout.trim(),
    ).toBe(startedBefore);
  }, 120_000);
});

describe("a failing module update", () => {
  const failingEnv = () => host.deps.db.select().from(environments).where(eq(environments.slug, failing)).get()!;
  const failingSql = <T>(fn: (sql: SQL) => Promise<T>) => host.pg.query(failingEnv().dbName, fn);

  test("fails the job with Odoo's error and the way back, leaves the database as it was and the env serving", async () => {
    const res = await host.api.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({
        name: failing,
        tier: "production",
        odooImage: FAILING_IMAGE,
        modules: ["base", "web", "x_mig"],
      }),
    });
    expect(res.status).toBe(202);
    expect((await host.waitJob(((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
    await failingSql((sql) => sql`UPDATE ir_module_module SET latest_version = '17.0.1.0' WHERE name = 'x_mig'`);
    const r = await host.api.request(`/api/v1/environments/${failing}/db/migrate`, {
      method: "POST",
      body: JSON.stringify({ dryRun: false }),
    });
    expect(r.status).toBe(202);
    const job = await host.waitJob(((await r.json()) as JobView).id);
    expect(job.status).toBe("failed");
    expect(job.error).toContain("module update failed (exit 1)");
    expect(job.error).toContain("Error while running migration");
    const pre = host.deps.db.select().from(backups).where(eq(backups.envId, failingEnv().id)).all();
    expect(pre.map((b) => `${b.kind}:${b.status}`)).toEqual(["pre_deploy:completed"]);
    expect(job.error).toContain(`odooops db restore ${failing} --backup ${pre[0]!.id}`);
    // The plan read the extra addon from the image the env serves, not the stand-in's base image.
    expect(job.error).toContain("module x_mig");
    const versions = await failingSql(
      (sql) => sql<{ v: string }[]>`SELECT latest_version AS v FROM ir_module_module WHERE name = 'x_mig'`,
    );
    expect([...versions]).toEqual([{ v: "17.0.1.0" }]);
    expect(job.steps.find((s) => s.name === "stop")?.status).toBe("undone");
    expect(await answer(host, failingEnv().domain, "/web/health?db_server_status=1")).toMatchObject({ status: 200 });
  }, 300_000);
});

describe("reading manifests", () => {
  test("the command: python3 in the image, no network, bundled addons before extra addons", () => {
    const c = imageManifestsCommand({ binary: "docker" }, "reg.example/odoo:17.0");
    expect(c.argv.slice(0, 22)).toEqual([
      "docker",
      "run",
      "--rm",
      "--cpus",
      "1",
      "--memory",
      "1024m",
      "--memory-swap",
      "1024m",
      "--pids-limit",
      "1024",
      "--cap-drop",
      "ALL",
      "--security-opt",
      "no-new-privileges",
      "--network",
      "none",
      "--user",
      "101:101",
      "--entrypoint",
      "python3",
      "reg.example/odoo:17.0",
    ]);
    expect(c.argv[22]).toBe("-c");
    expect(c.argv.slice(24)).toEqual(["/usr/lib/python3/dist-packages/odoo/addons", "/mnt/extra-addons"]);
  });

  test("versions normalised to the series, installable read, a broken manifest or output named", () => {
    const out = JSON.stringify({
      x: "{'version': '2.1', 'installable': False}",
      y: "{'name': 'y'}",
      z: "{'version': '17.0.3.0'}",
    });
    expect(parseImageManifests(out, "17.0", "img")).toEqual([
      { name: "x", version: "17.0.2.1", installable: false },
      { name: "y", version: "17.0.1.0", installable: true },
      { name: "z", version: "17.0.3.0", installable: true },
    ]);
    expect(() => parseImageManifests(JSON.stringify({ bad: "{'version': " }), "17.0", "img")).toThrow(
      "bad/__manifest__.py",
    );
    expect(() => parseImageManifests("Traceback", "17.0", "img")).toThrow("could not read the module manifests of img");
  });
});

describe("planMigration", () => {
  const image = [
    { name: "base", version: "17.0.1.3", installable: true },
    { name: "web", version: "17.0.1.1", installable: true },
    { name: "old", version: "17.0.2.0", installable: false },
  ];
  test("versions that differ, modules Odoo marked, nothing for uninstalled or non-installable ones", () => {
    const installed = new Map([
      ["base", { state: "installed", latestVersion: "17.0.1.3" }],
      ["web", { state: "installed", latestVersion: "17.0.1.0" }],
      ["old", { state: "installed", latestVersion: "17.0.1.0" }],
      ["sale", { state: "to upgrade", latestVersion: "17.0.1.2" }],
      ["crm", { state: "to install", latestVersion: null }],
      ["mail", { state: "uninstalled", latestVersion: null }],
    ]);
    expect(planMigration("img", installed, image)).toEqual({
      image: "img",
      update: [
        { name: "crm", from: null, to: null, reason: "to install" },
        { name: "sale", from: "17.0.1.2", to: null, reason: "to upgrade" },
        { name: "web", from: "17.0.1.0", to: "17.0.1.1", reason: "version" },
      ],
      modules: ["crm", "sale", "web"],
    });
  });
});
