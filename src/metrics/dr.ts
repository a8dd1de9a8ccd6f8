/**
 * Gauges for disaster recovery and the host, read at scrape time: when the newest state backup
 * in the local backup dir was made, each env's last DR test, and free/total bytes where odooops
 * writes. All are cheap (a readdir, one query, a statfs); nothing here lists S3 or probes an env.
 */
import type { Gauge as GaugeClass, Registry } from "prom-client";
import type { CoordinatorDeps } from "../deps";
import { diskUse } from "../doctor/disk";
import { lastDrTests } from "../dr/dr-test-records";
import { dirStore, localStateDir } from "../dr/store";
import { environments } from "../env/env.sql";

type DrDeps = Pick<CoordinatorDeps, "config" | "paths" | "db">;

/** Each live env's last finished DR test, labelled by slug. */
function drTestsBySlug(deps: DrDeps) {
  const tests = lastDrTests(deps.db);
  return deps.db
    .select({ id: environments.id, slug: environments.slug, tier: environments.tier, status: environments.status })
    .from(environments)
    .all()
    .filter((e) => e.status !== "destroyed")
    .flatMap((e) => {
      const t = tests.get(e.id);
      return t ? [{ env: e.slug, tier: e.tier, ...t }] : [];
    });
}

function places(deps: DrDeps): [string, string][] {
  const local = deps.config.backups.local;
  const out: [string, string][] = [["data", deps.paths.dataDir]];
  if (local.enabled) out.push(["backups", local.dir !== "" ? local.dir : deps.paths.backupsDir]);
  return out;
}

export function registerDrMetrics(Gauge: typeof GaugeClass, registers: Registry[], deps: DrDeps): void {
  new Gauge({
    name: "odooops_state_backup_last_timestamp_seconds",
    help: "When the newest state backup (control plane, encrypted for the recovery key) in the local backup dir was made (unix seconds); absent while there is none.",
    registers,
    async collect() {
      this.reset();
      const local = deps.config.backups.local;
      if (!local.enabled) return;
      const [newest] = await dirStore(localStateDir(local.dir !== "" ? local.dir : deps.paths.backupsDir)).list();
      if (newest) this.set(Date.parse(newest.createdAt) / 1000);
    },
  });
  new Gauge({
    name: "odooops_dr_test_last_success_timestamp_seconds",
    help: "When the newest passed DR test (backup restored into a throwaway copy, verified, booted healthy) of the env finished (unix seconds); absent while none passed.",
    labelNames: ["env", "tier"],
    registers,
    collect() {
      this.reset();
      for (const t of drTestsBySlug(deps))
        if (t.lastSuccess?.finishedAt)
          this.set({ env: t.env, tier: t.tier }, Date.parse(t.lastSuccess.finishedAt) / 1000);
    },
  });
  new Gauge({
    name: "odooops_dr_test_last_outcome",
    help: "The env's newest finished DR test: 1 passed, 0 failed; absent while never tested.",
    labelNames: ["env", "tier"],
    registers,
    collect() {
      this.reset();
      for (const t of drTestsBySlug(deps)) this.set({ env: t.env, tier: t.tier }, t.last.outcome === "passed" ? 1 : 0);
    },
  });
  new Gauge({
    name: "odooops_dr_test_rto_seconds",
    help: "Recovery time measured by the env's newest passed DR test: restore start to the copy answering healthy (seconds).",
    labelNames: ["env", "tier"],
    registers,
    collect() {
      this.reset();
      for (const t of drTestsBySlug(deps))
        if (t.lastSuccess?.rtoMs != null) this.set({ env: t.env, tier: t.tier }, t.lastSuccess.rtoMs / 1000);
    },
  });
  const disk = (name: string, help: string, pick: (u: { free: number; total: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["place", "path"],
      registers,
      collect() {
        this.reset();
        for (const [place, path] of places(deps)) this.set({ place, path }, pick(diskUse(place, path)));
      },
    });
  disk(
    "odooops_disk_free_bytes",
    "Bytes available to odooops on the filesystem of its data dir (place=data) and local backup dir (place=backups).",
    (u) => u.free,
  );
  disk(
    "odooops_disk_size_bytes",
    "Size in bytes of the filesystem of odooops' data dir (place=data) and local backup dir (place=backups).",
    (u) => u.total,
  );
}
