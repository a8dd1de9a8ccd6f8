/**
 * A destroyed env's backups on a real host (PostgreSQL, docker, nginx, the Odoo stand-in, local
 * dir + s3rver): listed with --include-destroyed, restored into a new env of the same name (its
 * own data back, not neutralized) and into another env (neutralized), refused into the wrong
 * place; kept backups.keepDestroyedDays after the destroy, then swept from both stores.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import { sweepDestroyedBackups } from "../../src/db/destroyed-backups";
import type { BackupView, DbOperationResponse } from "../../src/db/schema";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { openS3 } from "../../src/host/s3";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { runCliOn } from "../support/cli";
import { startEnvHost } from "../support/env-host";
import { startS3, type TestS3 } from "../support/s3";
import { randomSuffix } from "../support/tmp";

let s3: TestS3;
let host: Awaited<ReturnType<typeof startEnvHost>>;
const slug = `rd-${randomSuffix(6)}`;
const other = `rd-${randomSuffix(6)}`;

beforeAll(async () => {
  s3 = await startS3();
  const target = await s3.target(`rd-${randomSuffix()}`, { prefix: "odooops" });
  host = await startEnvHost({ configOverrides: { backups: { s3: target } } });
}, 120_000);

afterAll(async () => {
  for (const name of [slug, other]) {
    if (host?.liveEnv(name)) await host.destroyEnv(name);
  }
  await host?.stop();
  await s3?.destroy();
}, 180_000);

function live(name: string): Environment {
  return host.liveEnv(name)!;
}

async function partners(name: string): Promise<string[]> {
  const e = live(name);
  const sql: SQL = pgConnect({
    host: host.pg.host,
    port: host.pg.port,
    user: host.pg.user,
    password: host.pg.password,
    database: e.dbName,
  });
  try {
    return (await sql<{ name: string }[]>`SELECT name FROM res_partner ORDER BY id`).map((r) => r.name);
  } finally {
    await sql.close();
  }
}

function filestore(name: string): string {
  const e = live(name);
  return join(envResources(e, host.deps).dataDir, "filestore", e.dbName);
}

async function createEnv(name: string): Promise<void> {
  const res = await host.api.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name, tier: "dev", modules: ["base", "web"] }),
  });
  expect(res.status).toBe(202);
  expect((await host.waitJob(((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
}

async function restoreInto(
  target: string,
  body: Record<string, unknown>,
): Promise<{ status: number; out: DbOperationResponse & { error?: { message: string } } }> {
  const res = await host.api.request(`/api/v1/environments/${target}/db/restore`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  return { status: res.status, out: (await res.json()) as DbOperationResponse & { error?: { message: string } } };
}

const cli = (argv: string[]) => runCliOn(host.api, argv);

let backupId = "";
let oldEnvId = "";

describe("restoring a destroyed environment", () => {
  test("an env with data, backed up, then destroyed with its database", async () => {
    await createEnv(slug);
    const e = live(slug);
    oldEnvId = e.id;
    const sql: SQL = pgConnect({
      host: host.pg.host,
      port: host.pg.port,
      user: host.pg.user,
      password: host.pg.password,
      database: e.dbName,
    });
    await sql`INSERT INTO res_partner (name, email) VALUES ('Before Destroy', 'before@destroy.example')`;
    await sql.close();
    mkdirSync(join(filestore(slug), "ab"), { recursive: true });
    writeFileSync(join(filestore(slug), "ab", "ab12cd"), "attachment of the destroyed env");
    const b = await host.api.request(`/api/v1/environments/${slug}/backups`, { method: "POST" });
    const job = await host.waitJob(((await b.json()) as JobView).id);
    expect(job.error).toBeNull();
    backupId = String(job.result?.backupId);
    const d = await host.api.request(`/api/v1/environments/${slug}`, { method: "DELETE" });
    expect(d.status).toBe(202);
    expect((await host.waitJob(((await d.json()) as JobView).id)).status).toBe("succeeded");
  }, 300_000);

  test("db backups: 404 for the destroyed name; --include-destroyed lists its backups with when they go", async () => {
    expect((await host.api.request(`/api/v1/environments/${slug}/backups`)).status).toBe(404);
    const r = await cli(["--json", "db", "backups", slug, "--include-destroyed"]);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as BackupView[];
    const row = list.find((b) => b.id === backupId)!;
    const destroyedAt = host.deps.db.select().from(environments).where(eq(environments.id, oldEnvId)).get()!
      .destroyedAt!;
    expect(row).toMatchObject({
      env: slug,
      envDestroyedAt: destroyedAt,
      status: "completed",
      keptFor: ["destroyed-env"],
    });
    expect(row.expiresAt).toBe(new Date(Date.parse(destroyedAt) + 30 * 86_400_000).toISOString());
    const table = await cli(["db", "backups", slug, "--include-destroyed"]);
    expect(table.stdout).toContain(`${slug} (destroyed`);
  });

  test("a destroyed env is never a target, and its backup does not go where it was not asked", async () => {
    const r = await restoreInto(slug, { backup: backupId });
    expect(r.status).toBe(404);
    await createEnv(other);
    const wrong = await restoreInto(other, { backup: backupId });
    expect(wrong.status).toBe(400);
    expect(wrong.out.error?.message).toContain(`is not a backup of ${other}`);
    expect(await partners(other)).not.toContain("Before Destroy");
  }, 300_000);

  test("into a new env of the same name: the old data back, not neutralized", async () => {
    await createEnv(slug);
    expect(live(slug).id).not.toBe(oldEnvId);
    const r = await restoreInto(slug, { backup: backupId });
    expect(r.status).toBe(202);
    expect(r.out.plan).toMatchObject({
      source: { slug },
      neutralize: false,
      anonymize: false,
      backup: { id: backupId },
    });
    const job = await host.waitJob(r.out.job!.id);
    expect(job.error).toBeNull();
    expect(await partners(slug)).toContain("Before Destroy");
    expect(readFileSync(join(filestore(slug), "ab", "ab12cd"), "utf8")).toBe("attachment of the destroyed env");
  }, 300_000);

  test("into another env with --to: the CLI names the destroyed env; neutralized like any other env's data", async () => {
    const r = await cli(["--json", "db", "restore", slug, "--backup", backupId, "--to", other, "--yes", "--wait"]);
    expect(r.code).toBe(0);
    expect(await partners(other)).toContain("Before Destroy");
    const row = host.deps.db
      .select()
      .from(environments)
      .where(eq(environments.id, live(other).id))
      .get()!;
    expect(row.status).toBe("active");
    const audit = host.deps.audit.list({ action: "db.restore" })[0];
    expect(audit).toMatchObject({
      target: other,
      details: expect.objectContaining({ from: slug, backup: backupId, neutralize: true }),
    });
  }, 300_000);

  test("kept keepDestroyedDays after the destroy, then swept from the local dir and S3", async () => {
    const row = host.deps.db.select().from(backups).where(eq(backups.id, backupId)).get()!;
    expect(row.localPath).not.toBeNull();
    expect(row.s3Key).not.toBeNull();
    const destroyedAt = Date.parse(
      host.deps.db.select().from(environments).where(eq(environments.id, oldEnvId)).get()!.destroyedAt!,
    );
    const early = await sweepDestroyedBackups(host.deps, new Date(destroyedAt + 29 * 86_400_000));
    expect(early.deleted).not.toContain(backupId);
    expect(existsSync(row.localPath!)).toBe(true);
    const late = await sweepDestroyedBackups(host.deps, new Date(destroyedAt + 31 * 86_400_000));
    expect(late).toMatchObject({ errors: [], skipped: [] });
    expect(late.deleted).toContain(backupId);
    expect(host.deps.db.select().from(backups).where(eq(backups.id, backupId)).get()).toMatchObject({
      status: "expired",
      localPath: null,
      s3Key: null,
    });
    expect(existsSync(row.localPath!)).toBe(false);
    const store = await openS3(host.deps.config.backups.s3!);
    expect(await store.list(row.s3Key!)).toEqual([]);
    store.close();
    // Live envs' backups are not the sweep's business.
    expect(
      host.deps.db
        .select()
        .from(backups)
        .where(and(eq(backups.envId, live(slug).id), eq(backups.status, "expired")))
        .all(),
    ).toEqual([]);
  }, 120_000);
});
