/** Every periodic task of the coordinator, built from the config (a task may be off). */
import { certRenewalSchedule } from "../certs/schedule";
import type { Config } from "../config/schema";
import { exportSweepSchedule } from "../db/export-sweep";
import { drTestSchedule } from "../dr/dr-test";
import { stateBackupSchedule } from "../dr/state-backup";
import { destroyedBackupsSchedule } from "../db/destroyed-backups";
import { backupSchedule } from "../db/schedule";
import { offlineJobsSchedule } from "../fleet/offline-jobs";
import { ttlSchedule } from "../github/ttl-sweep";
import { reconcileSchedule } from "../github/reconcile";
import { uptimeSchedule } from "../report/uptime";
import type { Schedule } from "../jobs/schedule";

export function schedulesFor(config: Config): Schedule[] {
  const schedules: Schedule[] = [];
  if (Object.values(config.backups.schedules).some((p) => p !== "")) schedules.push(backupSchedule());
  if (config.acme.enabled) schedules.push(certRenewalSchedule());
  if (config.github.tokenFile && config.github.reconcileSchedule !== "")
    schedules.push(reconcileSchedule(config.github.reconcileSchedule));
  if (config.ttl.sweepSchedule !== "") schedules.push(ttlSchedule(config.ttl.sweepSchedule));
  if (config.exports.sweepSchedule !== "") schedules.push(exportSweepSchedule(config.exports.sweepSchedule));
  schedules.push(destroyedBackupsSchedule());
  if (config.role !== "agent" && config.uptime.probeSchedule !== "")
    schedules.push(uptimeSchedule(config.uptime.probeSchedule));
  // Jobs wait in the coordinator's queue: it decides when an offline host's ones stop waiting.
  if (config.role !== "agent") schedules.push(offlineJobsSchedule());
  // The control plane's state lives on the coordinator; an agent's journal is not backed up.
  if (config.role !== "agent" && config.dr.stateBackups.schedule !== "")
    schedules.push(stateBackupSchedule(config.dr.stateBackups.schedule));
  if (config.role !== "agent" && config.dr.testSchedule !== "") schedules.push(drTestSchedule(config.dr.testSchedule));
  return schedules;
}
