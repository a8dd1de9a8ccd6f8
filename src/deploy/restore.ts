/**
 * Putting a production env back on a pre-deploy backup (after a failed migration, or for
 * `rollback --restore-db`): the backup is restored into a new database beside the live one and
 * verified, then the serving release stops for the swap only, starts again and must be healthy.
 * Names come from the deployment id (src/db/replace.ts), so a rerun after a crash finds what the
 * interrupted attempt left and every move checks where things are before acting. The replaced
 * database is kept as `<db>_old_<token>` for inspection.
 */
import { deploymentReplaceToken } from "../db/copies/names";
import { availableParallelism } from "node:os";
import { eq } from "drizzle-orm";
import { backups } from "../db/backup.sql";
import { cleanupRestore, restoreBackup } from "../db/backup";
import { databaseExists } from "../host/postgres/ops";
import { replaceNames, swapBack, swapIn, type ReplaceNames } from "../db/replace";
import { manifestTrust, readableSource } from "../db/restore-job";
import { NotFound } from "../errors";
import { waitEnvServed } from "../env/served";
import { envHost } from "../env/host";
import { envResources } from "../env/resources";
import type { Environment } from "../env/env.sql";
import { envDbLogin } from "../env/tenant-login";
import { run } from "../exec/run";
import type { Deps } from "../deps";
import { stepLogger } from "../jobs/step-logger";
import { adminLogin } from "./source";

function namesFor(deps: Deps, env: Environment, deploymentId: string): ReplaceNames {
  return replaceNames(env.dbName, envResources(env, deps).dataDir, deploymentReplaceToken(deploymentId));
}

/**
 * Undoes restorePreDeployBackup (a rollback whose switch failed afterwards): the database and
 * filestore the env had before come back under the serving release; the restored copy is dropped.
 */
export async function undoPreDeployRestore(
  deps: Deps,
  env: Environment,
  deploymentId: string,
  io: { log(line: string): void; signal: AbortSignal },
): Promise<void> {
  const n = namesFor(deps, env, deploymentId);
  const host = envHost(deps);
  const serving = env.containerName;
  if (serving) await run(host.docker.stop(serving, 30), { nothrow: true });
  try {
    const back = await host.withAdmin((sql) => swapBack(sql, n));
    io.log(
      `database ${back.database}, filestore ${back.filestore}: the env is on the database it had before the rollback`,
    );
  } finally {
    if (serving) await run(host.docker.start(serving), { nothrow: true });
  }
  await cleanupRestore({
    pg: adminLogin(deps),
    newDbName: n.newDb,
    filestoreTargetDir: n.filestoreDir,
    workDir: deps.paths.workDir,
  });
  await waitEnvServed(deps, env, io, deps.config.deploy.healthTimeoutSec * 1000);
}

export async function restorePreDeployBackup(
  deps: Deps,
  env: Environment,
  backupId: string,
  deploymentId: string,
  io: { log(line: string): void; signal: AbortSignal },
): Promise<void> {
  const row = deps.db.select().from(backups).where(eq(backups.id, backupId)).get();
  if (!row) throw new NotFound(`no backup ${backupId}`);
  const n = namesFor(deps, env, deploymentId);
  const scratch = {
    pg: adminLogin(deps),
    newDbName: n.newDb,
    filestoreTargetDir: n.filestoreDir,
    workDir: deps.paths.workDir,
  };
  const host = envHost(deps);
  const alreadySwapped = await host.withAdmin(
    async (sql) => (await databaseExists(sql, n.oldDb)) && !(await databaseExists(sql, n.newDb)),
  );
  if (!alreadySwapped) {
    await cleanupRestore(scratch);
    io.log(`restoring backup ${backupId} into ${n.newDb}`);
    await restoreBackup({
      ...scratch,
      source: readableSource(deps.config, row),
      owner: envDbLogin(deps, env),
      jobs: availableParallelism(),
      log: stepLogger(io, { backup: backupId }),
      signal: io.signal,
      filestoreOwner: { uid: deps.config.odoo.uid, gid: deps.config.odoo.gid },
      manifestTrust: manifestTrust(deps),
    });
  }
  const serving = env.containerName;
  if (serving) await run(host.docker.stop(serving, 30), { nothrow: true });
  try {
    const swapped = await host.withAdmin((sql) => swapIn(sql, n));
    io.log(`database ${swapped.database}, filestore ${swapped.filestore}; the replaced database is kept as ${n.oldDb}`);
  } finally {
    if (serving) await run(host.docker.start(serving), { nothrow: true });
  }
  await waitEnvServed(deps, env, io, deps.config.deploy.healthTimeoutSec * 1000);
}
