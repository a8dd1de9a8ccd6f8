/**
 * Hosts and deploy times, read at scrape time from state: hosts online/offline by the same rule
 * as `host list` (a heartbeat within three intervals), each host's heartbeat age and free disk
 * from its last inventory, and the p95 of successful deploys' durations as `odooops report`
 * computes it.
 */
import { and, eq, gte, isNotNull } from "drizzle-orm";
import type { Gauge as GaugeClass, Registry } from "prom-client";
import type { Deps } from "../deps";
import { deployments } from "../deploy/deploy.sql";
import { listHosts } from "../fleet/hosts";
import { p95 } from "../report/report";

type FleetDeps = Pick<Deps, "db" | "config">;

const DEPLOY_WINDOWS: [string, number][] = [
  ["24h", 86_400_000],
  ["30d", 30 * 86_400_000],
];

export function registerFleetMetrics(Gauge: typeof GaugeClass, registers: Registry[], deps: FleetDeps): void {
  const hosts = () => listHosts(deps.db, deps.config.fleet.heartbeatSec);
  new Gauge({
    name: "odooops_hosts",
    help: "Hosts known to the coordinator per status (online: a heartbeat within three intervals); both statuses always present.",
    labelNames: ["status"],
    registers,
    collect() {
      this.reset();
      const all = hosts();
      for (const status of ["online", "offline"] as const)
        this.set({ status }, all.filter((h) => h.status === status).length);
    },
  });
  new Gauge({
    name: "odooops_host_heartbeat_age_seconds",
    help: "Seconds since the host's last heartbeat (absent before its first).",
    labelNames: ["host"],
    registers,
    collect() {
      this.reset();
      const now = Date.now();
      for (const h of hosts())
        if (h.lastHeartbeatAt) this.set({ host: h.name }, (now - Date.parse(h.lastHeartbeatAt)) / 1000);
    },
  });
  new Gauge({
    name: "odooops_host_disk_free_bytes",
    help: "Free disk under the host's odooops root, from its last heartbeat's inventory.",
    labelNames: ["host"],
    registers,
    collect() {
      this.reset();
      for (const h of hosts()) if (h.inventory) this.set({ host: h.name }, h.inventory.diskFreeMb * 1024 ** 2);
    },
  });
  new Gauge({
    name: "odooops_deployment_duration_p95_seconds",
    help: "95th percentile (nearest rank) of successful deployments' durations, queued to finished, over the window (24h or 30d); absent without one.",
    labelNames: ["window"],
    registers,
    collect() {
      this.reset();
      for (const [window, ms] of DEPLOY_WINDOWS) {
        const rows = deps.db
          .select({ createdAt: deployments.createdAt, finishedAt: deployments.finishedAt })
          .from(deployments)
          .where(
            and(
              eq(deployments.status, "success"),
              isNotNull(deployments.finishedAt),
              gte(deployments.createdAt, new Date(Date.now() - ms).toISOString()),
            ),
          )
          .all();
        const q = p95(rows.map((r) => (Date.parse(r.finishedAt ?? r.createdAt) - Date.parse(r.createdAt)) / 1000));
        if (q !== null) this.set({ window }, q);
      }
    },
  });
}
