/**
 * Destroying production for real (PostgreSQL, dockerd, nginx, the Odoo stand-in, local backups):
 * the job backs the database up before it removes anything; when that backup cannot be taken
 * the destroy aborts, the database and the serving container stay, and the env is active again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import { environments } from "../../src/env/env.sql";
import { run } from "../../src/exec/run";
import { listDatabases, pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { startEnvHost } from "../support/env-host";

let host: Awaited<ReturnType<typeof startEnvHost>>;
const slug = "shop";

beforeAll(async () => {
  // Production's defaults (4 CPUs, 9 workers) do not fit the test machine.
  host = await startEnvHost({ configOverrides: { tiers: { production: { cpus: 1, memoryMb: 1024, workers: 0 } } } });
}, 120_000);
afterAll(async () => {
  await host?.stop();
}, 120_000);

const row = () => host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
const finalBackups = () => host.deps.db.select().from(backups).where(eq(backups.kind, "pre_destroy")).all();

async function databaseExists(name: string): Promise<boolean> {
  const admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password });
  try {
    return (await listDatabases(admin, name)).includes(name);
  } finally {
    await admin.close();
  }
}

async function destroy(): Promise<JobView> {
  const res = await host.api.request(`/api/v1/environments/${slug}?confirm=${slug}`, { method: "DELETE" });
  expect(res.status).toBe(202);
  return host.waitJob(((await res.json()) as JobView).id);
}

describe("destroying a production environment", () => {
  test("a production env with its database, served", async () => {
    const res = await host.api.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: slug, tier: "production" }),
    });
    expect(res.status).toBe(202);
    const job = await host.waitJob(((await res.json()) as { job: JobView }).job.id);
    expect(job.error).toBeNull();
    expect(row().status).toBe("active");
    expect(await databaseExists(row().dbName)).toBe(true);
  }, 240_000);

  test("the final backup cannot be taken: nothing is destroyed, the env is active again and says why", async () => {
    const env = row();
    // The backups root is a file now: the dump has nowhere to go.
    rmSync(host.deps.paths.backupsDir, { recursive: true, force: true });
    writeFileSync(host.deps.paths.backupsDir, "not a directory\n");
    try {
      const job = await destroy();
      expect(job.status).toBe("failed");
      expect(job.error).toContain("the final backup failed, so nothing was destroyed");
      expect(job.steps.map((s) => [s.name, s.status])[0]).toEqual(["final-backup", "failed"]);
      expect(job.steps.filter((s) => s.status === "done")).toEqual([]);
    } finally {
      rmSync(host.deps.paths.backupsDir, { force: true });
      mkdirSync(host.deps.paths.backupsDir, { recursive: true, mode: 0o750 });
    }
    expect(await databaseExists(env.dbName)).toBe(true);
    expect(
      (await run({ argv: ["docker", "inspect", "-f", "{{.State.Running}}", env.containerName!] })).stdout.trim(),
    ).toBe("true");
    expect(row()).toMatchObject({ status: "active" });
    expect(row().statusReason).toContain("destroy aborted");
    expect(finalBackups().map((b) => b.status)).toEqual(["failed"]);
    const health = await host.viaNginx(env.domain, "/web/health");
    expect(health.status).toBe(200);
  }, 240_000);

  test("with a backup target: the final backup comes first and is kept, then the database is dropped", async () => {
    const env = row();
    const job = await destroy();
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    expect(job.steps[0]).toMatchObject({ name: "final-backup", status: "done" });
    const done = finalBackups().filter((b) => b.status === "completed");
    expect(done).toHaveLength(1);
    expect(done[0]!.dbName).toBe(env.dbName);
    expect(done[0]!.localPath).not.toBeNull();
    expect(existsSync(done[0]!.localPath!) && readdirSync(done[0]!.localPath!).length).toBeGreaterThan(0);
    expect(await databaseExists(env.dbName)).toBe(false);
    expect(row().status).toBe("destroyed");
  }, 240_000);
});
