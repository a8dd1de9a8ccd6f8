/**
 * Availability from the minute probes (src/report/uptime.ts), read at scrape time: per env the
 * share of probes answered over the last day and the last 30 days (whole hours). Nothing is
 * probed on a scrape.
 */
import type { Gauge as GaugeClass, Registry } from "prom-client";
import type { Deps } from "../deps";
import { environments } from "../env/env.sql";
import { uptimeSince } from "../report/uptime";

const WINDOWS: [string, number][] = [
  ["24h", 86_400_000],
  ["30d", 30 * 86_400_000],
];

export function registerUptimeMetrics(Gauge: typeof GaugeClass, registers: Registry[], deps: Pick<Deps, "db">): void {
  new Gauge({
    name: "odooops_env_availability_ratio",
    help: "Share of the minute probes through nginx the environment answered (0–1) over the window (24h or 30d, whole hours); absent before its first probe.",
    labelNames: ["env", "tier", "window"],
    registers,
    collect() {
      this.reset();
      const envs = new Map(
        deps.db
          .select({ id: environments.id, slug: environments.slug, tier: environments.tier })
          .from(environments)
          .all()
          .map((e) => [e.id, e]),
      );
      for (const [window, ms] of WINDOWS) {
        for (const u of uptimeSince(deps, new Date(Date.now() - ms))) {
          const e = envs.get(u.envId);
          if (e && u.probes > 0) this.set({ env: e.slug, tier: e.tier, window }, (u.probes - u.failures) / u.probes);
        }
      }
    },
  });
}
