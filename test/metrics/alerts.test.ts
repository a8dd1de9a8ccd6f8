/**
 * templates/prometheus/alerts.yaml with Debian's promtool: the file is valid, every alert fires on
 * the series it is about and stays quiet on healthy ones (`promtool test rules`), and every metric
 * an alert uses is one the daemon exports (a live scrape through the API, state backup included).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureRecoveryKey } from "../../src/dr/recovery-key";
import { backupState } from "../../src/dr/state-backup";
import { run } from "../../src/exec/run";
import { makeTestApi } from "../support/api";
import { makeTempDir, removeTempDir } from "../support/tmp";

const RULES = join(import.meta.dir, "..", "..", "templates", "prometheus", "alerts.yaml");
let api: Awaited<ReturnType<typeof makeTestApi>>;
let dir: string;

beforeAll(async () => {
  api = await makeTestApi();
  dir = makeTempDir("odooops-alerts-");
});
afterAll(() => {
  api?.cleanup();
  removeTempDir(dir);
});

/** One promtool unit test: `series` for 30 minutes, the alerts expected at 25m. */
function unitTest(
  name: string,
  series: { series: string; values: string }[],
  alert: string,
  firing: { labels: Record<string, string>; summary: string }[],
) {
  const annotations = (summary: string) => ({ summary, description: DESCRIPTIONS[alert] });
  return {
    name,
    interval: "1m",
    input_series: series,
    alert_rule_test: [
      {
        eval_time: "25m",
        alertname: alert,
        exp_alerts: firing.map((f) => ({ exp_labels: f.labels, exp_annotations: annotations(f.summary) })),
      },
    ],
  };
}

/** What each alert tells the person paged (checked rendered, with the labels filled in). */
const DESCRIPTIONS: Record<string, string> = {
  OdooopsBackupOverdue: "odooops db backups shop shows the failures; odooops health check --all the rest.",
  OdooopsBackupFailed: "odooops db backups shop gives the reason.",
  OdooopsStateBackupOverdue:
    "odooops dr backups; the daemon log says why (e.g. no recovery key: odooops dr recovery-key).",
  OdooopsStateBackupMissing:
    "Create the recovery key (odooops dr recovery-key) and check odooops dr backups; see docs/disaster-recovery.md.",
  OdooopsDrTestFailed:
    "odooops dr reports --env shop gives the step and why; odooops dr test --env shop --wait after the fix.",
  OdooopsDrTestOverdue: "odooops dr reports --env shop; is dr.testSchedule off? Run odooops dr test --env shop.",
  OdooopsCertificateExpiring: "odooops certs list shows the last renewal failure; odooops certs renew to retry.",
  OdooopsEnvironmentDown: "odooops health check --all names them; odooops env list gives the reason.",
  OdooopsEnvironmentUnavailable:
    "odooops report --since 24h shows its newest failure; odooops health check shop asks it now.",
  OdooopsJobsFailing: "odooops jobs list --status failed; odooops jobs show ID for the step and its log.",
  OdooopsDeployFailed: "odooops deploy list ENV; odooops jobs show ID.",
  OdooopsDiskLow:
    "Backups and deploys fail when it fills up: odooops doctor, odooops db exports --clean, prune old images.",
};

/**
 * A production env with backups and no passed DR test: quiet for its first 8 days (the weekly
 * test has not come due), then OdooopsDrTestOverdue; an env that passed one stays quiet.
 */
function neverTested() {
  const summary = "shop has had backups for 8 days and never passed a DR test";
  const description = DESCRIPTIONS.OdooopsDrTestOverdue;
  return {
    name: "DR test never passed",
    interval: "1h",
    input_series: [
      { series: 'odooops_backup_last_success_timestamp_seconds{env="shop",tier="production"}', values: "0x240" },
      { series: 'odooops_backup_last_success_timestamp_seconds{env="tested",tier="production"}', values: "0x240" },
      {
        series: 'odooops_dr_test_last_success_timestamp_seconds{env="tested",tier="production"}',
        values: "0+3600x240",
      },
    ],
    alert_rule_test: [
      { eval_time: "7d", alertname: "OdooopsDrTestOverdue", exp_alerts: [] },
      {
        eval_time: "9d",
        alertname: "OdooopsDrTestOverdue",
        exp_alerts: [
          {
            exp_labels: { env: "shop", tier: "production", severity: "warning", passed: "never" },
            exp_annotations: { summary, description },
          },
        ],
      },
    ],
  };
}

describe("alert rules", () => {
  test("promtool check rules accepts the file", async () => {
    const r = await run({ argv: ["promtool", "check", "rules", RULES] }, { nothrow: true });
    expect(`${r.stdout}${r.stderr}`).toContain("SUCCESS: 13 rules found");
    expect(r.exitCode).toBe(0);
  });

  test("each alert fires on its condition and not on a healthy series (promtool test rules)", async () => {
    const tests = [
      // time() is 1500 s at 25m: a success at -50000 s is ~14.3 h old (> 13 h), one at 1200 s is fresh.
      unitTest(
        "backup overdue",
        [
          {
            series: 'odooops_backup_last_success_timestamp_seconds{env="shop",tier="production"}',
            values: "-50000x30",
          },
          { series: 'odooops_backup_last_success_timestamp_seconds{env="fresh",tier="production"}', values: "1200x30" },
        ],
        "OdooopsBackupOverdue",
        [
          {
            labels: { env: "shop", tier: "production", severity: "critical" },
            summary: "No completed backup of shop for 14h 18m 20s",
          },
        ],
      ),
      unitTest(
        "backup failed",
        [
          { series: 'odooops_backups_total{env="shop",tier="production",status="failed"}', values: "0x20 1x10" },
          { series: 'odooops_backups_total{env="calm",tier="production",status="failed"}', values: "2x30" },
        ],
        "OdooopsBackupFailed",
        [
          {
            labels: { env: "shop", tier: "production", status: "failed", severity: "warning" },
            summary: "A backup of shop failed in the last hour",
          },
        ],
      ),
      unitTest(
        "state backup overdue",
        [{ series: "odooops_state_backup_last_timestamp_seconds", values: "-20000x30" }],
        "OdooopsStateBackupOverdue",
        [
          {
            labels: { severity: "critical" },
            summary: "No state backup for 5h 58m 20s: the control plane could not be rebuilt from today's state",
          },
        ],
      ),
      unitTest(
        "state backup fresh",
        [{ series: "odooops_state_backup_last_timestamp_seconds", values: "0+60x30" }],
        "OdooopsStateBackupOverdue",
        [],
      ),
      unitTest(
        "state backup never made",
        [{ series: 'process_start_time_seconds{job="odooops"}', values: "-20000x30" }],
        "OdooopsStateBackupMissing",
        [{ labels: { severity: "critical" }, summary: "odooops has made no state backup in its local backup dir" }],
      ),
      unitTest(
        "DR test failed",
        [
          { series: 'odooops_dr_test_last_outcome{env="shop",tier="production"}', values: "1x20 0x10" },
          { series: 'odooops_dr_test_last_outcome{env="calm",tier="production"}', values: "1x30" },
        ],
        "OdooopsDrTestFailed",
        [
          {
            labels: { env: "shop", tier: "production", severity: "critical" },
            summary: "The last DR test of shop failed: its backups may not bring it back",
          },
        ],
      ),
      // time() is 1500 s at 25m: a pass at -700000 s is 8 d 2 h old (> 8 d), one at -600000 s ~7 d.
      unitTest(
        "DR test overdue",
        [
          {
            series: 'odooops_dr_test_last_success_timestamp_seconds{env="shop",tier="production"}',
            values: "-700000x30",
          },
          {
            series: 'odooops_dr_test_last_success_timestamp_seconds{env="week",tier="production"}',
            values: "-600000x30",
          },
          { series: 'odooops_dr_test_last_success_timestamp_seconds{env="old",tier="staging"}', values: "-900000x30" },
          { series: 'odooops_backup_last_success_timestamp_seconds{env="shop",tier="production"}', values: "0x30" },
          { series: 'odooops_backup_last_success_timestamp_seconds{env="week",tier="production"}', values: "0x30" },
        ],
        "OdooopsDrTestOverdue",
        [
          {
            labels: { env: "shop", tier: "production", severity: "warning" },
            summary: "No passed DR test of shop for 8d 2h 51m 40s",
          },
        ],
      ),
      unitTest(
        "certificate expiring",
        [
          { series: 'odooops_certificate_days_left{domain="shop.example.com"}', values: "13x30" },
          { series: 'odooops_certificate_days_left{domain="ok.example.com"}', values: "40x30" },
        ],
        "OdooopsCertificateExpiring",
        [
          {
            labels: { domain: "shop.example.com", severity: "warning" },
            summary: "The certificate of shop.example.com expires in 13 days",
          },
        ],
      ),
      unitTest(
        "environment down",
        [
          { series: 'odooops_environments_total{tier="production",status="failed"}', values: "1x30" },
          { series: 'odooops_environments_total{tier="staging",status="failed"}', values: "0x30" },
        ],
        "OdooopsEnvironmentDown",
        [
          {
            labels: { tier: "production", status: "failed", severity: "critical" },
            summary: "1 production environment(s) failed",
          },
        ],
      ),
      unitTest(
        "production env under 99.5 % over a day",
        [
          { series: 'odooops_env_availability_ratio{env="shop",tier="production",window="24h"}', values: "0.99x30" },
          { series: 'odooops_env_availability_ratio{env="fine",tier="production",window="24h"}', values: "0.999x30" },
          { series: 'odooops_env_availability_ratio{env="shop",tier="production",window="30d"}', values: "0.99x30" },
          { series: 'odooops_env_availability_ratio{env="test",tier="dev",window="24h"}', values: "0.5x30" },
        ],
        "OdooopsEnvironmentUnavailable",
        [
          {
            labels: { env: "shop", tier: "production", window: "24h", severity: "critical" },
            summary: "shop answered 99% of its probes over the last day (goal 99.5 %)",
          },
        ],
      ),
      unitTest(
        "jobs failing",
        [{ series: 'odooops_jobs_total{kind="db.backup",status="failed"}', values: "0x20 3x10" }],
        "OdooopsJobsFailing",
        [
          {
            labels: { kind: "db.backup", status: "failed", severity: "warning" },
            summary: "db.backup jobs failed in the last hour",
          },
        ],
      ),
      unitTest(
        "deploy failed",
        [{ series: 'odooops_deployments_total{status="failed"}', values: "4x20 5x10" }],
        "OdooopsDeployFailed",
        [
          {
            labels: { status: "failed", severity: "warning" },
            summary: "A deployment failed in the last hour (the previous release kept serving)",
          },
        ],
      ),
      unitTest(
        "disk low",
        [
          { series: 'odooops_disk_free_bytes{place="data",path="/var/lib/odooops"}', values: "5x30" },
          { series: 'odooops_disk_size_bytes{place="data",path="/var/lib/odooops"}', values: "100x30" },
          { series: 'odooops_disk_free_bytes{place="backups",path="/backups"}', values: "50x30" },
          { series: 'odooops_disk_size_bytes{place="backups",path="/backups"}', values: "100x30" },
        ],
        "OdooopsDiskLow",
        [
          {
            labels: { place: "data", path: "/var/lib/odooops", severity: "warning" },
            summary: "data (/var/lib/odooops) has 5% free",
          },
        ],
      ),
    ];
    const file = join(dir, "alerts.test.yaml");
    // JSON is YAML.
    writeFileSync(file, JSON.stringify({ rule_files: [RULES], evaluation_interval: "1m", tests }, null, 1));
    const r = await run({ argv: ["promtool", "test", "rules", file] }, { nothrow: true });
    expect(`${r.stdout}${r.stderr}`).toContain("SUCCESS");
    expect(r.exitCode).toBe(0);
  });

  test("a production env that never passed a DR test: quiet for 8 days, then overdue (promtool test rules)", async () => {
    // Hourly samples evaluated hourly: each evaluation sees its sample (the 5 m lookback), and 9 days stay cheap.
    const file = join(dir, "alerts-never.test.yaml");
    writeFileSync(file, JSON.stringify({ rule_files: [RULES], evaluation_interval: "1h", tests: [neverTested()] }));
    const r = await run({ argv: ["promtool", "test", "rules", file] }, { nothrow: true });
    expect(`${r.stdout}${r.stderr}`).toContain("SUCCESS");
    expect(r.exitCode).toBe(0);
  });

  test("every metric an alert uses is exported by the daemon", async () => {
    ensureRecoveryKey(api.deps.paths.recoveryPublicKeyFile);
    await backupState(api.deps);
    const res = await api.request("/api/v1/metrics");
    expect(res.status).toBe(200);
    const text = await res.text();
    const exported = new Set([...text.matchAll(/^# HELP (\S+) /gm)].map((m) => m[1]));
    const rules = await Bun.file(RULES).text();
    const used = new Set([...rules.matchAll(/\b((?:odooops|process)_[a-z_]+)\b/g)].map((m) => m[1]));
    expect(used.size).toBeGreaterThanOrEqual(10);
    expect([...used].filter((m) => !exported.has(m))).toEqual([]);
    // And the new gauges carry values: the state backup just made, the disk of the data dir.
    expect(text).toMatch(/^odooops_state_backup_last_timestamp_seconds \d+/m);
    expect(text).toMatch(/^odooops_disk_free_bytes\{place="data",path="[^"]+"\} \d+/m);
  });
});
