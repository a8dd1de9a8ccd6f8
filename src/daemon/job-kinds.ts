/** Every job kind the daemon can run. */
import { createEnvJob } from "../env/create-job";
import { destroyEnvJob, restartEnvJob, startEnvJob, stopEnvJob } from "../env/lifecycle-jobs";
import type { AnyJobDef } from "../jobs/define";
import { backupJob } from "../db/backup-job";

export const JOB_KINDS: AnyJobDef[] = [createEnvJob, destroyEnvJob, startEnvJob, stopEnvJob, restartEnvJob, backupJob] as AnyJobDef[];
