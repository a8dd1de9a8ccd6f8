/** The coordinator's services over one state database, built the same way by the daemon and tests. */
import type { ApiDeps } from "../api/deps";
import { AuditService } from "../audit/service";
import { SecretBox } from "../auth/secretbox";
import { AuthService } from "../auth/service";
import type { Config } from "../config/schema";
import type { Paths } from "../config/paths";
import type { AnyJobDef } from "../jobs/define";
import { JobRegistry } from "../jobs/registry";
import { JobService } from "../jobs/service";
import type { Db } from "../state/db";
import { VERSION } from "../version";
import { JOB_KINDS } from "./job-kinds";

export interface ServiceOptions {
  db: Db;
  config: Config;
  paths: Paths;
  hostId: string | null;
  /** Job kinds beyond the built-in ones (tests add probes). */
  extraJobs?: AnyJobDef[];
}

export function buildServices(opts: ServiceOptions): ApiDeps {
  const { db, config, paths } = opts;
  const registry = new JobRegistry([...JOB_KINDS, ...(opts.extraJobs ?? [])]);
  return {
    db,
    config,
    paths,
    auth: new AuthService(db, { jwtSecretFile: paths.jwtSecretFile, sessionHours: config.sessionHours, adminPasswordFile: paths.adminPasswordFile }),
    audit: new AuditService(db),
    box: SecretBox.fromFile(paths.secretKeyFile),
    jobs: new JobService(db, paths.jobLogsDir, registry, opts.hostId),
    version: VERSION,
    startedAt: Date.now(),
  };
}
