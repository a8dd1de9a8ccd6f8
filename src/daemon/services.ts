/** The coordinator's services over one state database, built the same way by the daemon and tests. */
import type { CoordinatorDeps } from "../deps";
import { AuditService } from "../audit/service";
import { SecretBox } from "../auth/secretbox";
import { LoginThrottle } from "../auth/login-throttle";
import { AuthService } from "../auth/service";
import type { Config } from "../config/schema";
import type { Paths } from "../config/paths";
import type { AnyJobDef } from "../jobs/define";
import { envHostId } from "../fleet/routing";
import { offlineWait } from "../fleet/offline-jobs";
import { FleetService } from "../fleet/service";
import { localTransferFetch } from "../fleet/transfer-grant";
import { JobRegistry } from "../jobs/registry";
import { JobService } from "../jobs/service";
import { sealLegacyRepoPasswords } from "../env/projects";
import { TERMINAL } from "../jobs/status";
import { Log } from "../log";
import type { Db } from "../state/db";
import { VERSION } from "../version";
import { JOB_KINDS } from "./job-kinds";
import { errorText } from "../errors";
import { settleDrTestOfJob, settleEndedDrTests } from "../dr/dr-test-records";

const log = Log.create("audit");

export interface ServiceOptions {
  db: Db;
  config: Config;
  paths: Paths;
  hostId: string | null;
  /** Job kinds beyond the built-in ones (tests add probes). */
  extraJobs?: AnyJobDef[];
  /** bench/audit-overhead.ts only: no audit rows, no login throttle, to measure what they cost. */
  unprotectedForBenchmark?: boolean;
}

export function buildServices(opts: ServiceOptions): CoordinatorDeps {
  const { db, config, paths } = opts;
  const box = SecretBox.fromFile(paths.secretKeyFile);
  sealLegacyRepoPasswords(db, box);
  const registry = new JobRegistry([...JOB_KINDS, ...(opts.extraJobs ?? [])]);
  const protect = !opts.unprotectedForBenchmark;
  const audit = new AuditService(db, {
    key: box.derive("audit-chain"),
    denialWindowMs: config.api.denialAuditWindowSec * 1000,
    enabled: protect,
  });
  const jobs = new JobService(
    db,
    paths.jobLogsDir,
    registry,
    opts.hostId,
    (lockKey) => envHostId(db, lockKey),
    (hostId) => offlineWait(db, config, opts.hostId, hostId, new Date()),
  );
  jobs.events.onStatus((jobId, ev) => {
    if (TERMINAL.has(ev.status)) auditOutcome(audit, jobs, jobId);
    if (ev.status === "failed" || ev.status === "cancelled") settleDrTest(db, jobs, jobId);
  });
  settleEndedDrTests(db);
  const fleet = new FleetService(db, config, opts.hostId);
  return {
    db,
    config,
    paths,
    auth: new AuthService(db, {
      jwtSecretFile: paths.jwtSecretFile,
      sessionHours: config.sessionHours,
      adminPasswordFile: paths.adminPasswordFile,
    }),
    audit,
    loginThrottle: new LoginThrottle(config.api.loginThrottle, protect),
    box,
    jobs,
    fleet,
    // A restore on this host of a pack relayed from another: in-process, with the same tickets.
    fetchTransfer: localTransferFetch({ jobs, fleet, paths, config }),
    version: VERSION,
    startedAt: Date.now(),
  };
}

/**
 * A DR test's record follows its job even when no agent reports its end (its host removed or
 * offline for good, cancelled while queued): never "running" forever.
 */
function settleDrTest(db: Db, jobs: JobService, jobId: string): void {
  try {
    settleDrTestOfJob(db, jobs.queue.row(jobId));
  } catch (e) {
    log.error("could not record a DR test's end", { job: jobId, error: errorText(e) });
  }
}

/** A job's outcome as an audit row, by whoever queued it; a failure to audit never fails the job engine. */
function auditOutcome(audit: AuditService, jobs: JobService, jobId: string): void {
  try {
    const job = jobs.queue.row(jobId);
    audit.record({
      actor: job.createdBy ?? "system",
      action: `job.${job.status}`,
      target: job.target,
      ip: null,
      details: { job: job.id, kind: job.kind, ...(job.error ? { error: job.error } : {}) },
    });
  } catch (e) {
    log.error("could not audit a job outcome", { job: jobId, error: errorText(e) });
  }
}
