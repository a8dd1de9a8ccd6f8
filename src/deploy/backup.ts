/** The pre-deploy backup of a production env: what a failed migration or a rollback restores. */
import { backups } from "../db/backup.sql";
import { failRunningBackup, performBackup } from "../db/backup-job";
import type { Environment } from "../env/env.sql";
import type { Deps } from "../deps";
import { stepLogger } from "../jobs/step-logger";
import { loadDeployment, setDeployment } from "./records";
import { errorText } from "../errors";

/**
 * The backup row is recorded on the deployment before the dump starts, so a deploy resumed after
 * a crash finishes that same backup instead of leaving a stray `running` one behind.
 */
export async function takePreDeployBackup(
  deps: Deps,
  env: Environment,
  deploymentId: string,
  io: { log(line: string): void; signal: AbortSignal },
): Promise<string> {
  let backupId = loadDeployment(deps.db, deploymentId).backupId;
  if (!backupId) {
    backupId = deps.db
      .insert(backups)
      .values({ envId: env.id, kind: "pre_deploy", status: "running", dbName: env.dbName })
      .returning()
      .get().id;
    setDeployment(deps.db, deploymentId, { backupId });
  }
  try {
    await performBackup(deps, backupId, stepLogger(io, { backup: backupId }), io.signal);
  } catch (err) {
    const reason = errorText(err);
    failRunningBackup(deps.db, backupId, reason);
    setDeployment(deps.db, deploymentId, { backupId: null });
    throw new Error(`pre-deploy backup failed, nothing was changed: ${reason}`);
  }
  return backupId;
}
