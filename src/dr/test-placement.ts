/**
 * The coordinator's side of running a DR test on another host: the facts `chooseDrTestHost`
 * decides on, read from state (hosts, the backup's S3 copy, where the release image can be
 * pulled), and what the other host needs in the job's params — its own state mirrors only the
 * envs placed on it, so the env's columns, the backup's S3 prefix and recorded manifest and the
 * image travel with the job.
 */
import { and, eq, inArray, isNotNull } from "drizzle-orm";
import { z } from "zod";
import type { BackupRow } from "../db/backup-job";
import { S3Transfer } from "../db/transfer";
import { deployments } from "../deploy/deploy.sql";
import type { CoordinatorDeps } from "../deps";
import type { Environment } from "../env/env.sql";
import { placementCandidates } from "../fleet/candidates";
import { EnvironmentWire } from "../fleet/schema";
import { jobSteps } from "../jobs/jobs.sql";
import type { Db } from "../state/db";
import { chooseDrTestHost, type DrHostChoice, type DrTestImage, IMAGE_NOT_IN_REGISTRY } from "./test-host";

/** The env as another host needs it: no secret column (the copy gets passwords of its own). */
export const RemoteEnv = EnvironmentWire.omit({ dbPassword: true, adminPasswd: true, odooAdminPassword: true });
export type RemoteEnv = z.infer<typeof RemoteEnv>;

/** What a DR test on another host than the env's carries in its params. */
export const RemoteDrTest = z.object({
  env: RemoteEnv,
  backup: z.object({ createdAt: z.string(), transfer: S3Transfer }),
  /** The image the copy boots: the release's registry copy, or the plain Odoo image by name. */
  image: z.string().min(1),
});
export type RemoteDrTest = z.infer<typeof RemoteDrTest>;

/** The registry copy a deploy job pushed of `image` (its build step's `pushed`), if any. */
function pushedRef(db: Db, envId: string, image: string): string | null {
  const jobIds = db
    .select({ jobId: deployments.jobId })
    .from(deployments)
    .where(and(eq(deployments.envId, envId), eq(deployments.image, image), isNotNull(deployments.jobId)))
    .all()
    .flatMap((d) => (d.jobId ? [d.jobId] : []));
  if (!jobIds.length) return null;
  const builds = db
    .select({ output: jobSteps.output })
    .from(jobSteps)
    .where(and(inArray(jobSteps.jobId, jobIds), eq(jobSteps.name, "build")))
    .all();
  for (const b of builds) if (typeof b.output?.pushed === "string") return b.output.pushed;
  return null;
}

/**
 * The image another host boots the copy with: a release image exists only where it was built,
 * unless the deploy pushed it to `deploy.registry`; a plain Odoo image is pulled by its name.
 */
export function drTestImage(db: Db, env: Pick<Environment, "id" | "odooImage" | "currentDeploymentId">): DrTestImage {
  const d = env.currentDeploymentId
    ? db.select().from(deployments).where(eq(deployments.id, env.currentDeploymentId)).get()
    : undefined;
  if (!d?.image) return { pull: env.odooImage };
  const pushed = pushedRef(db, env.id, d.image);
  return pushed
    ? { pull: pushed }
    : {
        none: `${IMAGE_NOT_IN_REGISTRY}: release image ${d.image} was built on the env's host and never pushed (deploy.registry)`,
      };
}

const MIB = 1024 * 1024;

/** Where this env's test of `row` runs (`asked`: `--host`); refusals throw (test-host.ts). */
export function drTestHost(
  deps: Pick<CoordinatorDeps, "db" | "fleet">,
  env: Environment,
  row: BackupRow,
  asked: string | undefined,
): DrHostChoice {
  const { fleet } = deps;
  return chooseDrTestHost({
    envHost: fleet.envHost(env),
    candidates: placementCandidates(deps.db, {
      localHostId: fleet.localHostId,
      heartbeatSec: fleet.heartbeatSec,
      at: new Date(),
      exceptEnvId: null,
    }),
    asked,
    // The copy's container has the env's limits; its database and filestore take about the backup's size.
    need: { cpus: Number(env.cpus), memoryMb: env.memoryMb, diskMb: Math.ceil((row.sizeBytes ?? 0) / MIB) },
    backupId: row.id,
    s3Copy: row.s3Key !== null && row.status === "completed" && row.manifest !== null,
    image: drTestImage(deps.db, env),
  });
}

/** The params part for a test on another host (`image`: what the choice said it pulls). */
export function remoteDrTest(env: Environment, row: BackupRow, image: string): RemoteDrTest {
  // The move columns are the coordinator's own: they never travel (as in fleet/mirror-wire.ts).
  const {
    dbPasswordEnc: _db,
    adminPasswdEnc: _admin,
    odooAdminPasswordEnc: _odoo,
    movingToHostId: _to,
    movedFromHostId: _from,
    ...rest
  } = env;
  return RemoteDrTest.parse({
    env: rest,
    backup: { createdAt: row.createdAt, transfer: { s3Key: row.s3Key, manifest: row.manifest } },
    image,
  });
}
