/**
 * `db backup` end to end: a real env (PostgreSQL, docker, nginx, the Odoo stand-in) created
 * through the API, backed up by the job engine to a local dir and s3rver; retention after each
 * backup; an S3 failure fails the job and the backup, visibly.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import type { BackupView } from "../../src/db/schema";
import { environments } from "../../src/env/env.sql";
import { envResources, LABEL_ENV } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { openS3 } from "../../src/host/s3/client";
import type { S3Target } from "../../src/host/s3/schema";
import type { JobView } from "../../src/jobs/view";
import { clearOfUtcMidnight } from "../support/clock";
import { startEnvHost } from "../support/env-host";
import { startS3, type TestS3 } from "../support/s3";
import { randomSuffix } from "../support/tmp";

let s3: TestS3;
let target: S3Target;
let host: Awaited<ReturnType<typeof startEnvHost>>;
let slug = "";

beforeAll(async () => {
  s3 = await startS3();
  target = await s3.target(`bk-${randomSuffix()}`, { prefix: "odooops" });
  host = await startEnvHost({ configOverrides: { backups: { s3: target } } });
}, 120_000);

afterAll(async () => {
  const ids = host?.deps.db.select({ id: environments.id }).from(environments).all() ?? [];
  for (const { id } of ids) {
    const c = await run({ argv: ["docker", "ps", "-aq", "--filter", `label=${LABEL_ENV}=${id}`] }, { nothrow: true });
    for (const cid of c.stdout.split("\n").filter(Boolean))
      await run({ argv: ["docker", "rm", "-f", cid] }, { nothrow: true });
    const n = await run(
      { argv: ["docker", "network", "ls", "-q", "--filter", `label=${LABEL_ENV}=${id}`] },
      { nothrow: true },
    );
    for (const nid of n.stdout.split("\n").filter(Boolean))
      await run({ argv: ["docker", "network", "rm", nid] }, { nothrow: true });
  }
  await host?.stop();
  await s3?.destroy();
}, 120_000);

async function post(path: string): Promise<Response> {
  return host.api.request(`/api/v1${path}`, { method: "POST" });
}

async function startDbBackup(): Promise<JobView> {
  const res = await post(`/environments/${slug}/backups`);
  expect(res.status).toBe(202);
  const job = (await res.json()) as JobView;
  expect(job.kind).toBe("db.backup");
  expect(job.target).toBe(slug);
  return job;
}

async function list(limit?: number): Promise<BackupView[]> {
  const res = await host.api.request(`/api/v1/environments/${slug}/backups${limit ? `?limit=${limit}` : ""}`);
  expect(res.status).toBe(200);
  return (await res.json()) as BackupView[];
}

function backupRow(id: string) {
  return host.deps.db.select().from(backups).where(eq(backups.id, id)).get()!;
}

async function s3Keys(prefix: string): Promise<string[]> {
  const store = await openS3(target);
  try {
    return (await store.list(prefix)).map((o) => o.key.slice(prefix.length)).sort();
  } finally {
    store.close();
  }
}

const DAY = 86_400_000;
/** Longer than the two backup jobs of one test take, with room on a loaded machine. */
const SAME_DAY_MARGIN_MS = 180_000;
let b1 = "";

describe("db backup on a real environment", () => {
  test("an env to back up", async () => {
    const res = await post("/environments");
    expect(res.status).toBe(400); // no body: the route is there and validates
    const created = await host.api.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: "shop", tier: "dev" }),
    });
    expect(created.status).toBe(202);
    const body = (await created.json()) as { job: JobView; env: { slug: string } };
    slug = body.env.slug;
    expect((await host.waitJob(body.job.id)).status).toBe("succeeded");
  }, 240_000);

  test("backup: job succeeded, row completed, verified copies in the local dir and in S3, listed", async () => {
    // An attachment in the env's filestore (<dataDir>/filestore/<db>) must travel with the dump.
    const env = host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
    const fsDir = join(envResources(env, host.deps).dataDir, "filestore", env.dbName, "ab");
    mkdirSync(fsDir, { recursive: true });
    writeFileSync(join(fsDir, "ab12cd"), "attachment bytes");
    const job = await host.waitJob((await startDbBackup()).id);
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    expect(job.steps.map((s) => [s.name, s.status])).toEqual([
      ["dump", "done"],
      ["retention", "done"],
    ]);
    b1 = String(job.result?.backupId);
    const row = backupRow(b1);
    expect(row).toMatchObject({ status: "completed", kind: "manual", error: null, dbName: "odoo_shop" });
    expect(row.sizeBytes).toBeGreaterThan(0);

    const localDir = join(host.deps.paths.backupsDir, slug, b1);
    expect(row.localPath).toBe(localDir);
    expect(readdirSync(localDir).sort()).toEqual(["db.dump", "filestore.tar", "manifest.json"]);
    const manifest = JSON.parse(readFileSync(join(localDir, "manifest.json"), "utf8")) as {
      env: string;
      dbName: string;
      parts: { db: { size: number } };
    };
    expect(manifest).toMatchObject({ env: slug, dbName: "odoo_shop" });
    expect(manifest.parts.db.size).toBeGreaterThan(0);
    expect((await run({ argv: ["tar", "-tf", join(localDir, "filestore.tar")] })).stdout).toContain("./ab/ab12cd");

    expect(row.s3Key).toBe(`odooops/${slug}/${b1}/`);
    expect(await s3Keys(row.s3Key!)).toEqual(["db.dump", "filestore.tar", "manifest.json"]);

    const [only, ...rest] = await list();
    expect(rest).toEqual([]);
    expect(only).toMatchObject({
      id: b1,
      env: slug,
      status: "completed",
      sizeBytes: row.sizeBytes,
      expiresAt: null,
      error: null,
    });
    expect(only.keptFor).toContain("newest");
    expect(only.location).toEqual({ local: localDir, s3: `s3://${target.bucket}/odooops/${slug}/${b1}/` });
  }, 240_000);

  test(
    "backups run one at a time per env; retention after each: expiry dates, the superseded one deleted everywhere",
    async () => {
      // b2 and b3 must be dated on one UTC day ("same day as b3" below): never across midnight.
      await clearOfUtcMidnight(SAME_DAY_MARGIN_MS);
      // Yesterday's backup: kept as that day's daily (dev: 3 days), so it gets an expiry date.
      const yesterday = new Date(Date.now() - DAY).toISOString();
      host.deps.db.update(backups).set({ createdAt: yesterday }).where(eq(backups.id, b1)).run();

      const first = await startDbBackup();
      const second = await startDbBackup();
      expect(second.status).toBe("queued");
      expect(second.blockedBy?.id).toBe(first.id);
      const [j2, j3] = [await host.waitJob(first.id), await host.waitJob(second.id)];
      expect([j2.status, j3.status]).toEqual(["succeeded", "succeeded"]);
      const b2 = String(j2.result?.backupId);
      const b3 = String(j3.result?.backupId);
      expect(j2.result?.expired).toEqual([]);
      // Same day as b3 and no longer the newest: retention deletes it.
      expect(j3.result?.expired).toEqual([b2]);

      const gone = backupRow(b2);
      expect(gone).toMatchObject({ status: "expired", localPath: null, s3Key: null });
      expect(existsSync(join(host.deps.paths.backupsDir, slug, b2))).toBe(false);
      expect(await s3Keys(`odooops/${slug}/${b2}/`)).toEqual([]);
      expect(existsSync(join(host.deps.paths.backupsDir, slug, b1, "manifest.json"))).toBe(true);
      expect(await s3Keys(`odooops/${slug}/${b1}/`)).toHaveLength(3);

      const views = await list();
      expect(views.map((v) => [v.id, v.status])).toEqual([
        [b3, "completed"],
        [b2, "expired"],
        [b1, "completed"],
      ]);
      const [v3, v2, v1] = views;
      expect(v3.expiresAt).toBeNull();
      expect(v3.keptFor).toContain("newest");
      expect(v2.keptFor).toEqual([]);
      expect(v2.location).toEqual({ local: null, s3: null });
      expect(v1.keptFor).toEqual(["daily"]);
      const dayStart = Math.floor(Date.parse(yesterday) / DAY) * DAY;
      expect(v1.expiresAt).toBe(new Date(dayStart + 3 * DAY).toISOString());
      expect((await list(1)).map((v) => v.id)).toEqual([b3]);
    },
    240_000 + SAME_DAY_MARGIN_MS,
  );

  test("an S3 failure (wrong bucket): job failed, backup failed with the reason, local copy kept, listed", async () => {
    const good = host.deps.config.backups.s3;
    host.deps.config.backups.s3 = s3.targetNoCreate(`missing-${randomSuffix()}`);
    try {
      const job = await host.waitJob((await startDbBackup()).id);
      expect(job.status).toBe("failed");
      expect(job.error).toContain("NoSuchBucket");
      expect(job.steps.map((s) => s.status)).toEqual(["failed", "pending"]);
      const [latest] = await list();
      expect(latest.status).toBe("failed");
      expect(latest.error).toContain("NoSuchBucket");
      expect(latest.error).toContain("local copy kept");
      expect(latest.location.s3).toBeNull();
      const row = backupRow(latest.id);
      expect(row.s3Key).toBeNull();
      expect(row.localPath).not.toBeNull();
      expect(readdirSync(row.localPath!).sort()).toEqual(["db.dump", "filestore.tar", "manifest.json"]);
    } finally {
      host.deps.config.backups.s3 = good;
    }
  }, 240_000);

  test("refusals: unknown env 404, no backup target 400 (nothing recorded)", async () => {
    expect((await post("/environments/nope/backups")).status).toBe(404);
    expect((await host.api.request("/api/v1/environments/nope/backups")).status).toBe(404);
    expect((await host.api.request(`/api/v1/environments/${slug}/backups?limit=0`)).status).toBe(400);
    const { local, s3: s3Target } = host.deps.config.backups;
    const before = (await list(1000)).length;
    host.deps.config.backups.local = { ...local, enabled: false };
    host.deps.config.backups.s3 = undefined;
    try {
      const res = await post(`/environments/${slug}/backups`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain("no backup target");
    } finally {
      host.deps.config.backups.local = local;
      host.deps.config.backups.s3 = s3Target;
    }
    expect((await list(1000)).length).toBe(before);
  });

  test("destroy the env", async () => {
    const res = await host.api.request(`/api/v1/environments/${slug}`, { method: "DELETE" });
    expect(res.status).toBe(202);
    expect((await host.waitJob(((await res.json()) as JobView).id)).status).toBe("succeeded");
  }, 240_000);
});
