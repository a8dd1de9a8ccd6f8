/** Every job kind the daemon can run. */
import { createEnvJob } from "../env/create-job";
import { rotateAdminPasswordJob } from "../env/admin-password";
import { destroyEnvJob, restartEnvJob, startEnvJob, stopEnvJob } from "../env/lifecycle-jobs";
import type { AnyJobDef } from "../jobs/define";
import { backupJob } from "../db/backup-job";
import { certImportJob, certIssueJob } from "../certs/issue-job";
import { cloneJob } from "../db/clone-job";
import { restoreJob } from "../db/restore-job";
import { migrateJob } from "../db/migrate-job";
import { exportJob } from "../db/export-job";
import { importJob } from "../db/import-job";
import { deployJob } from "../deploy/deploy-job";
import { rollbackJob } from "../deploy/rollback-job";
import { rotateCredentialsJob } from "../deploy/rotate-credentials";
import { drTestJob } from "../dr/dr-test-job";
import { rebuildEnvJob } from "../dr/rebuild-job";
import { MOVE_JOBS } from "../fleet/move-job";
import { cloneExportJob } from "../db/clone-transfer/export-job";
import { transferDropJob } from "../db/clone-transfer/drop-job";
import { crossHostCloneJob } from "../db/clone-transfer/chain-job";

export const JOB_KINDS: AnyJobDef[] = [
  createEnvJob,
  destroyEnvJob,
  startEnvJob,
  stopEnvJob,
  restartEnvJob,
  backupJob,
  restoreJob,
  cloneJob,
  migrateJob,
  exportJob,
  importJob,
  deployJob,
  rollbackJob,
  certIssueJob,
  certImportJob,
  rotateAdminPasswordJob,
  rotateCredentialsJob,
  drTestJob,
  rebuildEnvJob,
  ...MOVE_JOBS,
  cloneExportJob,
  crossHostCloneJob,
  transferDropJob,
] as AnyJobDef[];
