/**
 * An alert arrives: Debian's `prometheus` (templates/prometheus/alerts.yaml as shipped, evaluated
 * every second) scrapes a test daemon, sends to Debian's `prometheus-alertmanager` configured from
 * docs/alertmanager.example.yml (receivers pointed at a webhook server in this test, waits cut to a
 * second), and a backup that fails for real — its local backup dir lies under a regular file, so
 * it cannot be created — reaches the webhook as `OdooopsBackupFailed` for that env.
 * OdooopsBackupFailed has no `for:`, so the rules file is loaded unchanged.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { parse } from "yaml";
import { backups } from "../../src/db/backup.sql";
import { environments } from "../../src/env/env.sql";
import type { JobView } from "../../src/jobs/view";
import { startEnvHost } from "../support/env-host";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { eventually, type Proc, query, startAlertmanager, startPrometheus, targetHealth } from "./prometheus";

const ROOT = join(import.meta.dir, "..", "..");
const RULES = join(ROOT, "templates", "prometheus", "alerts.yaml");
const EXAMPLE = join(ROOT, "docs", "alertmanager.example.yml");

interface Notification {
  receiver: string;
  status: string;
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
}

const slug = `am-${randomSuffix(6)}`;
let dir: string;
let host: Awaited<ReturnType<typeof startEnvHost>> | undefined;
let api: ReturnType<typeof Bun.serve> | undefined;
let webhook: ReturnType<typeof Bun.serve> | undefined;
let prometheus: Proc | undefined;
let alertmanager: Proc | undefined;
const received: { path: string; body: Notification }[] = [];

beforeAll(async () => {
  dir = makeTempDir("odooops-alertmanager-");
  const blocker = join(dir, "not-a-dir");
  writeFileSync(blocker, "a file where the backup dir's parent should be\n");
  host = await startEnvHost({ configOverrides: { backups: { local: { dir: join(blocker, "backups") } } } });
  const res = await host.api.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name: slug, tier: "dev", modules: ["base", "web"] }),
  });
  expect(res.status).toBe(202);
  expect((await host.waitJob(((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
}, 240_000);

afterAll(async () => {
  await prometheus?.stop();
  await alertmanager?.stop();
  await api?.stop(true);
  await webhook?.stop(true);
  if (host) {
    const res = await host.api.request(`/api/v1/environments/${slug}`, { method: "DELETE" });
    if (res.status === 202) await host.waitJob(((await res.json()) as JobView).id).catch(() => undefined);
    await host.stop();
  }
  removeTempDir(dir);
}, 180_000);

/** The example config with its receivers' URLs on this test's webhook and the waits cut to a second. */
function alertmanagerConfig(webhookUrl: string): string {
  const cfg = parse(readFileSync(EXAMPLE, "utf8")) as {
    route: { group_wait: string; group_interval: string };
    receivers: { name: string; webhook_configs: { url: string }[] }[];
  };
  cfg.route.group_wait = "1s";
  cfg.route.group_interval = "1s";
  for (const r of cfg.receivers) for (const w of r.webhook_configs) w.url = `${webhookUrl}/${r.name}`;
  const file = join(dir, "alertmanager.yml");
  writeFileSync(file, JSON.stringify(cfg, null, 1));
  return file;
}

describe("alerts through Alertmanager", () => {
  test("a backup that fails for real arrives at the webhook as OdooopsBackupFailed", async () => {
    if (!host) throw new Error("no env host");
    const h = host;
    webhook = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        received.push({ path: new URL(req.url).pathname, body: (await req.json()) as Notification });
        return new Response("ok");
      },
    });
    alertmanager = await startAlertmanager({ dir, configFile: alertmanagerConfig(`http://127.0.0.1:${webhook.port}`) });

    const created = await h.api.request("/api/v1/auth/tokens", {
      method: "POST",
      body: JSON.stringify({ name: "prometheus", role: "viewer", ttlDays: 1 }),
    });
    expect(created.status).toBe(201);
    const tokenFile = join(dir, "odooops.token");
    writeFileSync(tokenFile, ((await created.json()) as { token: string }).token, { mode: 0o600 });
    api = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => h.api.app.fetch(req) });
    prometheus = await startPrometheus({
      dir,
      target: `127.0.0.1:${api.port}`,
      tokenFile,
      ruleFiles: [RULES],
      alertmanager: new URL(alertmanager.url).host,
    });
    const url = prometheus.url;
    await eventually("the odooops target up", 30_000, async () =>
      (await targetHealth(url))?.health === "up" ? true : undefined,
    );
    // The zero before the failure: delta() over the hour needs it to see the step.
    const failedSeries = `odooops_backups_total{env="${slug}",status="failed"}`;
    await eventually("the env's failed-backups series at 0", 20_000, async () =>
      (await query(url, failedSeries))[0]?.value[1] === "0" ? true : undefined,
    );
    await Bun.sleep(2000);
    expect(received).toEqual([]);

    const res = await h.api.request(`/api/v1/environments/${slug}/backups`, { method: "POST" });
    expect(res.status).toBe(202);
    const job = await h.waitJob(((await res.json()) as JobView).id);
    expect(job.status).toBe("failed");
    expect(job.error ?? "").toMatch(/not-a-dir|ENOTDIR/);
    const envId = h.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()?.id ?? "";
    const rows = h.deps.db.select().from(backups).where(eq(backups.envId, envId)).all();
    expect(rows.map((r) => r.status)).toEqual(["failed"]);

    const arrived = await eventually("OdooopsBackupFailed at the webhook", 60_000, async () =>
      received
        .flatMap((r) => r.body.alerts.map((a) => ({ path: r.path, ...a })))
        .find((a) => a.labels.alertname === "OdooopsBackupFailed" && a.status === "firing"),
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; received ${JSON.stringify(received)}\n${alertmanager?.log()}`);
    });
    // Severity warning: the example routes it to the `ops` receiver, not the pager.
    expect(arrived.path).toBe("/ops");
    expect(arrived.labels).toMatchObject({ env: slug, tier: "dev", severity: "warning" });
    expect(arrived.annotations.summary).toBe(`A backup of ${slug} failed in the last hour`);
  }, 180_000);
});
