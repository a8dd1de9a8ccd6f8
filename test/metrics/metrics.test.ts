/**
 * GET /api/v1/metrics through `app.request` over real state: envs created through the API, backup,
 * job and deployment rows as the jobs leave them, a stored certificate. Exact exposition lines.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { saveCertificate } from "../../src/certs";
import { backups } from "../../src/db/backup.sql";
import { deployments } from "../../src/deploy/deploy.sql";
import { environments } from "../../src/env/env.sql";
import { makeCa, makeLeaf } from "../certs/fixtures";
import { makeTestApi } from "../support/api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let other: Awaited<ReturnType<typeof makeTestApi>>;
let certTmp: string;

beforeAll(async () => {
  t = await makeTestApi();
  other = await makeTestApi();
  certTmp = mkdtempSync(join(tmpdir(), "odooops-metrics-certs-"));
});
afterAll(() => {
  t.cleanup();
  other.cleanup();
  rmSync(certTmp, { recursive: true, force: true });
});

async function scrape(api = t): Promise<string[]> {
  const res = await api.request("/api/v1/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
  return (await res.text()).split("\n");
}

function envId(slug: string): string {
  return t.deps.db.select({ id: environments.id }).from(environments).where(eq(environments.slug, slug)).get()!.id;
}

async function createEnv(name: string, tier: string): Promise<void> {
  const res = await t.request("/api/v1/environments", { method: "POST", body: JSON.stringify({ name, tier }) });
  expect(res.status).toBe(202);
}

describe("GET /api/v1/metrics", () => {
  test("needs the bearer token like every route", async () => {
    const res = await t.request("/api/v1/metrics", { token: null });
    expect(res.status).toBe(401);
  });

  test("an empty host: zero-filled environment counts, build info, process metrics", async () => {
    const lines = await scrape();
    expect(lines).toContain(`odooops_build_info{version="${t.deps.version}"} 1`);
    expect(lines).toContain('odooops_environments_total{tier="production",status="active"} 0');
    expect(lines).toContain('odooops_deployments_total{status="failed"} 0');
    expect(lines).toContain("# TYPE odooops_backups_total gauge");
    expect(lines.some((l) => l.startsWith("process_resident_memory_bytes "))).toBe(true);
    expect(lines.filter((l) => l.startsWith("odooops_backups_total{"))).toEqual([]);
  });

  test("backups per env/tier/status (a failed S3 upload shows), the latest completed one's time, size and duration", async () => {
    await createEnv("shop", "production");
    await createEnv("feature-x", "dev");
    t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, "shop")).run();
    const shop = envId("shop");
    t.deps.db
      .insert(backups)
      .values([
        {
          envId: shop,
          kind: "scheduled",
          status: "completed",
          dbName: "odoo_shop",
          sizeBytes: 1000,
          createdAt: "2026-11-30T00:00:00.000Z",
          finishedAt: "2026-11-30T00:05:00.000Z",
        },
        {
          envId: shop,
          kind: "scheduled",
          status: "completed",
          dbName: "odoo_shop",
          sizeBytes: 4096,
          manifest: { startedAt: "2026-12-01T06:00:30.000Z" },
          createdAt: "2026-12-01T06:00:00.000Z",
          finishedAt: "2026-12-01T06:02:00.500Z",
        },
        {
          envId: shop,
          kind: "scheduled",
          status: "failed",
          dbName: "odoo_shop",
          error: "S3: connection refused (local copy kept)",
          createdAt: "2026-12-01T12:00:00.000Z",
          finishedAt: "2026-12-01T12:01:00.000Z",
        },
        { envId: shop, kind: "manual", status: "running", dbName: "odoo_shop" },
      ])
      .run();

    const lines = await scrape();
    expect(lines.filter((l) => l.startsWith("odooops_backups_total{"))).toEqual([
      'odooops_backups_total{env="feature-x",tier="dev",status="running"} 0',
      'odooops_backups_total{env="feature-x",tier="dev",status="completed"} 0',
      'odooops_backups_total{env="feature-x",tier="dev",status="failed"} 0',
      'odooops_backups_total{env="feature-x",tier="dev",status="expired"} 0',
      'odooops_backups_total{env="shop",tier="production",status="running"} 1',
      'odooops_backups_total{env="shop",tier="production",status="completed"} 2',
      'odooops_backups_total{env="shop",tier="production",status="failed"} 1',
      'odooops_backups_total{env="shop",tier="production",status="expired"} 0',
    ]);
    expect(lines.filter((l) => l.startsWith("odooops_backup_last_"))).toEqual([
      `odooops_backup_last_success_timestamp_seconds{env="shop",tier="production"} ${Date.parse("2026-12-01T06:02:00.500Z") / 1000}`,
      'odooops_backup_last_size_bytes{env="shop",tier="production"} 4096',
      'odooops_backup_last_duration_seconds{env="shop",tier="production"} 90.5',
    ]);
    expect(lines).toContain('odooops_environments_total{tier="production",status="active"} 1');
    expect(lines).toContain('odooops_environments_total{tier="dev",status="creating"} 1');
    // The two env.create jobs, queued (no agent runs in this test).
    expect(lines).toContain('odooops_jobs_total{kind="env.create",status="queued"} 2');
    expect(lines).toContain('odooops_jobs_total{kind="env.create",status="failed"} 0');
  });

  test("a destroyed env's backups leave the backup series; deployments per status", async () => {
    t.deps.db.update(environments).set({ status: "destroyed" }).where(eq(environments.slug, "feature-x")).run();
    const shop = envId("shop");
    t.deps.db
      .insert(deployments)
      .values([
        { envId: shop, release: 2, status: "success" },
        { envId: shop, release: 3, status: "failed", error: "health check failed" },
        { envId: shop, release: 4, kind: "rollback", status: "success" },
      ])
      .run();
    const lines = await scrape();
    expect(lines.filter((l) => l.includes('env="feature-x"'))).toEqual([]);
    expect(lines).toContain('odooops_environments_total{tier="dev",status="destroyed"} 1');
    expect(lines.filter((l) => l.startsWith("odooops_deployments_total{") && !l.endsWith(" 0"))).toEqual([
      'odooops_deployments_total{status="success"} 2',
      'odooops_deployments_total{status="failed"} 1',
    ]);
  });

  test("certificates: days left and expiry per stored domain", async () => {
    const ca = await makeCa(certTmp);
    const leaf = await makeLeaf(certTmp, ca, ["shop.example.test"], 20);
    const saved = saveCertificate(t.deps.paths.certsDir, "shop.example.test", {
      fullchainPem: `${leaf.certPem}${ca.certPem}`,
      privkeyPem: leaf.keyPem,
      source: "acme",
    });
    const lines = await scrape();
    expect(lines).toContain('odooops_certificate_days_left{domain="shop.example.test"} 19');
    expect(lines).toContain(
      `odooops_certificate_expiry_timestamp_seconds{domain="shop.example.test"} ${saved.info.notAfter.getTime() / 1000}`,
    );
  });

  test("each app has its own registry: another app's state is not in this one's metrics", async () => {
    const lines = await scrape(other);
    expect(lines.filter((l) => l.startsWith("odooops_backups_total{"))).toEqual([]);
    expect(lines).toContain('odooops_environments_total{tier="production",status="active"} 0');
  });
});
