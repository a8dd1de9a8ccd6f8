/**
 * The Prometheus registry of one API instance (never prom-client's global one: several apps in
 * one process, as in the tests, must not share series). Gauges are filled in `collect`, at scrape
 * time, from the state database; process metrics are prom-client's defaults on this registry.
 * prom-client is loaded on the first scrape: a daemon nobody scrapes does not carry it (~3.5 MB).
 */
import type { Registry } from "prom-client";
import type { CoordinatorDeps } from "../deps";
import { storedCertificates } from "../certs/store";
import { daysLeft } from "../certs/renewal";
import { backups } from "../db/backup.sql";
import { deployments } from "../deploy/deploy.sql";
import { environments } from "../env/env.sql";
import { ENV_STATUSES } from "../env/vocabulary";
import { jobStatuses } from "../jobs/jobs.sql";
import { registerDrMetrics } from "./dr";
import { registerFleetMetrics } from "./fleet";
import { registerHttpMetrics, requestStats } from "./http";
import { registerUptimeMetrics } from "./uptime";
import { backupCounts, deploymentCounts, environmentCounts, latestCompletedBackups } from "./state";
import { jobCounts } from "../jobs/lookup";

type MetricsDeps = Pick<CoordinatorDeps, "db" | "paths" | "version" | "config">;

const seconds = (iso: string) => Date.parse(iso) / 1000;

/** Every combination of `statuses` per key, zero unless counted: an alert on `> 0` needs the 0 series to exist. */
function zeroFilled<K extends string>(
  keys: Iterable<K>,
  statuses: readonly string[],
  rows: { key: K; status: string | null; count: number }[],
) {
  const out = new Map<string, { key: K; status: string; count: number }>();
  for (const key of keys) for (const status of statuses) out.set(`${key}\u0000${status}`, { key, status, count: 0 });
  for (const r of rows)
    if (r.status !== null) out.set(`${r.key}\u0000${r.status}`, { key: r.key, status: r.status, count: r.count });
  return [...out.values()];
}

export async function createMetricsRegistry(deps: MetricsDeps): Promise<Registry> {
  const { collectDefaultMetrics, Counter, Gauge, Registry } = await import("prom-client");
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  new Gauge({
    name: "odooops_build_info",
    help: "The running odooops version (always 1).",
    labelNames: ["version"],
    registers,
  }).set({ version: deps.version }, 1);

  new Gauge({
    name: "odooops_backups_total",
    help: "Backups recorded per environment, tier and status (running, completed, failed, expired); environments not destroyed.",
    labelNames: ["env", "tier", "status"],
    registers,
    collect() {
      this.reset();
      const rows = backupCounts(deps.db);
      const envs = new Map(rows.map((r) => [r.env, r.tier]));
      const keyed = rows.map((r) => ({ key: r.env, status: r.status, count: r.count }));
      for (const r of zeroFilled(envs.keys(), backups.status.enumValues, keyed))
        this.set({ env: r.key, tier: envs.get(r.key) ?? "", status: r.status }, r.count);
    },
  });

  const latest = () => latestCompletedBackups(deps.db);
  new Gauge({
    name: "odooops_backup_last_success_timestamp_seconds",
    help: "When the environment's newest completed backup finished (unix seconds).",
    labelNames: ["env", "tier"],
    registers,
    collect() {
      this.reset();
      for (const b of latest()) this.set({ env: b.env, tier: b.tier }, seconds(b.finishedAt));
    },
  });
  new Gauge({
    name: "odooops_backup_last_size_bytes",
    help: "Size of the environment's newest completed backup (database dump + filestore tar).",
    labelNames: ["env", "tier"],
    registers,
    collect() {
      this.reset();
      for (const b of latest()) if (b.sizeBytes !== null) this.set({ env: b.env, tier: b.tier }, b.sizeBytes);
    },
  });
  new Gauge({
    name: "odooops_backup_last_duration_seconds",
    help: "How long the environment's newest completed backup took, from the dump's start to its verification.",
    labelNames: ["env", "tier"],
    registers,
    collect() {
      this.reset();
      for (const b of latest())
        this.set({ env: b.env, tier: b.tier }, Math.max(0, seconds(b.finishedAt) - seconds(b.startedAt)));
    },
  });

  new Gauge({
    name: "odooops_jobs_total",
    help: "Jobs recorded per kind and status (queued, running, succeeded, failed, cancelled).",
    labelNames: ["kind", "status"],
    registers,
    collect() {
      this.reset();
      const rows = jobCounts(deps.db);
      const keyed = rows.map((r) => ({ key: r.kind, status: r.status, count: r.count }));
      for (const r of zeroFilled(new Set(rows.map((x) => x.kind)), jobStatuses, keyed))
        this.set({ kind: r.key, status: r.status }, r.count);
    },
  });

  new Gauge({
    name: "odooops_environments_total",
    help: "Environments per tier and status.",
    labelNames: ["tier", "status"],
    registers,
    collect() {
      this.reset();
      const keyed = environmentCounts(deps.db).map((r) => ({ key: r.tier, status: r.status, count: r.count }));
      for (const r of zeroFilled(environments.tier.enumValues, ENV_STATUSES, keyed))
        this.set({ tier: r.key, status: r.status }, r.count);
    },
  });

  new Gauge({
    name: "odooops_deployments_total",
    help: "Deployments and rollbacks per status.",
    labelNames: ["status"],
    registers,
    collect() {
      this.reset();
      const keyed = deploymentCounts(deps.db).map((r) => ({ key: "all", status: r.status, count: r.count }));
      for (const r of zeroFilled(["all"], deployments.status.enumValues, keyed))
        this.set({ status: r.status }, r.count);
    },
  });

  new Gauge({
    name: "odooops_certificate_days_left",
    help: "Whole days until the stored certificate of a domain expires (negative once expired).",
    labelNames: ["domain"],
    registers,
    collect() {
      this.reset();
      const now = new Date();
      for (const { domain, cert } of storedCertificates(deps.paths.certsDir))
        if (cert) this.set({ domain }, daysLeft(cert.info, now));
    },
  });
  new Gauge({
    name: "odooops_certificate_expiry_timestamp_seconds",
    help: "When the stored certificate of a domain expires (unix seconds).",
    labelNames: ["domain"],
    registers,
    collect() {
      this.reset();
      for (const { domain, cert } of storedCertificates(deps.paths.certsDir))
        if (cert) this.set({ domain }, cert.info.notAfter.getTime() / 1000);
    },
  });
  registerUptimeMetrics(Gauge, registers, deps);
  registerDrMetrics(Gauge, registers, deps);
  registerFleetMetrics(Gauge, registers, deps);
  registerHttpMetrics(Counter, registers, requestStats(deps));

  return registry;
}
