/**
 * Gauges for disaster recovery and the host, read at scrape time: when the newest state backup
 * in the local backup dir was made, and free/total bytes where odooops writes. Both are cheap
 * (a readdir, a statfs); nothing here lists S3 or probes an env on a scrape.
 */
import type { Gauge as GaugeClass, Registry } from "prom-client";
import type { CoordinatorDeps } from "../deps";
import { diskUse } from "../doctor/disk";
import { dirStore, localStateDir } from "../dr/store";

type DrDeps = Pick<CoordinatorDeps, "config" | "paths">;

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
