/**
 * docs/grafana/odooops-dashboard.json against a live Prometheus: Debian's `prometheus` scrapes a
 * test daemon's /api/v1/metrics every second with a viewer API token from a file (as
 * docs/metrics.md tells an operator to), and every query of every panel returns data over state
 * holding one of each thing the dashboard shows (env, backups, deployment, certificate, job,
 * host heartbeat, uptime probe, state backup).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { saveCertificate } from "../../src/certs";
import { backups } from "../../src/db/backup.sql";
import { deployments } from "../../src/deploy/deploy.sql";
import { ensureRecoveryKey } from "../../src/dr/recovery-key";
import { backupState } from "../../src/dr/state-backup";
import { environments } from "../../src/env/env.sql";
import { ensureLocalHost, recordHeartbeat } from "../../src/fleet/hosts";
import { recordProbe } from "../../src/report/uptime";
import { makeCa, makeLeaf } from "../certs/fixtures";
import { makeTestApi } from "../support/api";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { eventually, type Proc, query, startPrometheus, targetHealth } from "./prometheus";

const DASHBOARD = join(import.meta.dir, "..", "..", "docs", "grafana", "odooops-dashboard.json");

interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}

let api: Awaited<ReturnType<typeof makeTestApi>>;
let dir: string;
let server: ReturnType<typeof Bun.serve> | undefined;
let prometheus: Proc | undefined;

beforeAll(async () => {
  api = await makeTestApi();
  dir = makeTempDir("odooops-dashboard-");
});
afterAll(async () => {
  await prometheus?.stop();
  await server?.stop(true);
  api?.cleanup();
  removeTempDir(dir);
});

async function seedState(): Promise<void> {
  const res = await api.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name: "shop", tier: "production" }),
  });
  expect(res.status).toBe(202);
  const db = api.deps.db;
  const shop = db.select().from(environments).where(eq(environments.slug, "shop")).get();
  if (!shop) throw new Error("env shop not created");
  db.update(environments).set({ status: "active" }).where(eq(environments.id, shop.id)).run();
  const hourAgo = new Date(Date.now() - 3600_000).toISOString();
  const now = new Date().toISOString();
  db.insert(backups)
    .values([
      { envId: shop.id, kind: "scheduled", status: "completed", dbName: shop.dbName, sizeBytes: 10, finishedAt: now },
      { envId: shop.id, kind: "scheduled", status: "failed", dbName: shop.dbName, finishedAt: now },
    ])
    .run();
  db.insert(deployments)
    .values([
      { envId: shop.id, release: 1, status: "success", createdAt: hourAgo, finishedAt: now },
      { envId: shop.id, release: 2, status: "failed", createdAt: hourAgo, finishedAt: now },
    ])
    .run();
  const ca = await makeCa(dir);
  const leaf = await makeLeaf(dir, ca, ["shop.example.test"], 20);
  saveCertificate(api.deps.paths.certsDir, "shop.example.test", {
    fullchainPem: `${leaf.certPem}${ca.certPem}`,
    privkeyPem: leaf.keyPem,
    source: "acme",
  });
  recordProbe(api.deps, shop.id, new Date(), true, "");
  const host = ensureLocalHost(db, "coordinator-1", "coordinator");
  recordHeartbeat(db, host.id, {
    inventory: {
      cores: 2,
      memoryMb: 4096,
      diskFreeMb: 2048,
      load: 0.1,
      docker: "24",
      postgres: "15",
      nginx: "1.22",
      agentVersion: "0",
    },
    containers: [],
  });
  ensureRecoveryKey(api.deps.paths.recoveryPublicKeyFile);
  await backupState(api.deps);
}

describe("Grafana dashboard", () => {
  test("is importable: a DS_PROMETHEUS input, every panel on it, ids unique", async () => {
    const d = (await Bun.file(DASHBOARD).json()) as {
      __inputs: { name: string }[];
      panels: (Panel & { id: number })[];
    };
    expect(d.__inputs.map((i) => i.name)).toEqual(["DS_PROMETHEUS"]);
    const panels = d.panels.filter((p) => p.type !== "row");
    expect(panels.length).toBeGreaterThanOrEqual(15);
    for (const p of panels) {
      expect({ title: p.title, uid: p.datasource?.uid }).toEqual({ title: p.title, uid: "${DS_PROMETHEUS}" });
      expect(p.targets?.length ?? 0).toBeGreaterThan(0);
    }
    expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
  });

  test("every panel's query returns data from a real Prometheus scraping the daemon", async () => {
    await seedState();
    const created = await api.request("/api/v1/auth/tokens", {
      method: "POST",
      body: JSON.stringify({ name: "prometheus", role: "viewer", ttlDays: 1 }),
    });
    expect(created.status).toBe(201);
    const tokenFile = join(dir, "odooops.token");
    writeFileSync(tokenFile, ((await created.json()) as { token: string }).token, { mode: 0o600 });
    server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => api.app.fetch(req) });
    prometheus = await startPrometheus({ dir, target: `127.0.0.1:${server.port}`, tokenFile });
    const url = prometheus.url;
    await eventually("the odooops target up", 30_000, async () => {
      const t = await targetHealth(url);
      return t?.health === "up" ? t : undefined;
    }).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${prometheus?.log()}`);
    });

    const d = (await Bun.file(DASHBOARD).json()) as { panels: Panel[] };
    const exprs = d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThanOrEqual(20);
    // rate() and delta() need two samples: a few scrape intervals, then every query must have answered.
    const empty = await eventually("every dashboard query answering", 20_000, async () => {
      const missing: string[] = [];
      for (const { panel, expr } of exprs) if ((await query(url, expr)).length === 0) missing.push(`${panel}: ${expr}`);
      return missing.length === 0 ? missing : undefined;
    }).catch(async () => {
      const missing: string[] = [];
      for (const { panel, expr } of exprs) if ((await query(url, expr)).length === 0) missing.push(`${panel}: ${expr}`);
      return missing;
    });
    expect(empty).toEqual([]);

    // And the figures are the seeded state's, not just present.
    const one = async (expr: string) => Number((await query(url, expr))[0]?.value[1]);
    expect(await one('sum by (env) (odooops_backups_total{status="failed"})')).toBe(1);
    expect(await one('odooops_hosts{status="online"}')).toBe(1);
    expect(await one("odooops_host_disk_free_bytes")).toBe(2048 * 1024 ** 2);
    expect(await one('odooops_deployment_duration_p95_seconds{window="24h"}')).toBeGreaterThanOrEqual(3599);
    expect(
      await one(
        'sum(odooops_deployments_total{status="success"}) / clamp_min(sum(odooops_deployments_total{status=~"success|failed"}), 1)',
      ),
    ).toBe(0.5);
    // The token's creation; each scrape counts once it has answered (the first one sees none of its own).
    expect(await one('odooops_http_requests_total{method="POST",code="201"}')).toBe(1);
    expect(await one('odooops_http_requests_total{method="GET",code="200"}')).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
