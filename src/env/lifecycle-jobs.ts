/**
 * Jobs on an existing environment: destroy (idempotent teardown of everything envResources
 * names; production's database is backed up one last time first) and start/stop/restart of its
 * serving container.
 */
import type { SQL } from "bun";
import { rmSync } from "node:fs";
import { eq } from "drizzle-orm";
import { z } from "zod";
import { Conflict, errorText } from "../errors";
import { run } from "../exec/run";
import { backups } from "../db/backup.sql";
import { backupBeforeChange, failRunningBackup } from "../db/backup-job";
import { defineJob, type StepContext, onEnv, EnvJobTarget } from "../jobs/define";
import type { Deps } from "../deps";
import { isDomain } from "../certs/domain";
import { removeCertificate } from "../certs/store";
import { reload, removeVhost } from "../host/nginx";
import { dropDatabase, dropRole, removeHbaEntry } from "../host/postgres";
import { markActive, markDestroyAborted, markDestroyed, markFailed, markStopped } from "./state";
import { ENV_STATUSES } from "./vocabulary";
import { waitEnvServed } from "./served";
import { envHost } from "./host";
import { loadEnvById, removeEnvContainers } from "./lookup";
import { envResources, LABEL_ENV } from "./resources";

export const DestroyParams = EnvJobTarget.extend({
  keepDatabase: z.boolean().default(false),
  /** The backup taken before anything is removed (production whose database is dropped), else null. */
  finalBackupId: z.string().nullable().default(null),
  /** The env's status before the destroy was asked for: it comes back when the final backup fails. */
  previousStatus: z.enum(ENV_STATUSES).nullable().default(null),
});
export type DestroyParams = z.infer<typeof DestroyParams>;

/** The env's database and every other database its role owns, the live one first. */
export async function envDatabases(sql: SQL, dbName: string, role: string): Promise<string[]> {
  const rows = await sql<{ datname: string }[]>`
    SELECT datname FROM pg_database
    WHERE datname = ${dbName} OR datdba = (SELECT oid FROM pg_roles WHERE rolname = ${role})
    ORDER BY datname <> ${dbName}, datname`;
  return rows.map((r) => r.datname);
}

export const destroyEnvJob = defineJob<DestroyParams>({
  kind: "env.destroy",
  params: DestroyParams,
  ...onEnv,
  steps: [
    {
      name: "final-backup",
      title: "Backing up the database one last time",
      when: (p) => p.finalBackupId !== null,
      async run(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        try {
          await backupBeforeChange(ctx.deps, env, ctx.params.finalBackupId ?? "", "pre_destroy", ctx);
        } catch (e) {
          throw new Error(
            `the final backup failed, so nothing was destroyed: ${errorText(e)} (fix the backup target and destroy again, or destroy with --skip-final-backup)`,
          );
        }
      },
    },
    {
      name: "containers",
      title: "Removing containers",
      async run(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        const removed = await removeEnvContainers(ctx.deps, env);
        ctx.log(removed.length ? `removed ${removed.join(", ")}` : "no containers");
        // Release images odooops built for this env (labelled with it); base images are not ours.
        const host = envHost(ctx.deps);
        const images = (await run(host.docker.imageLs({ [LABEL_ENV]: env.id }))).stdout.split("\n").filter(Boolean);
        for (const id of new Set(images)) await run(host.docker.imageRm(id, { force: true }), { nothrow: true });
        if (images.length > 0) ctx.log(`removed ${new Set(images).size} release image(s)`);
      },
    },
    {
      name: "vhost",
      title: "Removing the nginx vhost",
      async run(ctx) {
        const host = envHost(ctx.deps);
        if (await removeVhost(host.nginx, ctx.params.slug)) await reload(host.nginx);
      },
    },
    {
      name: "certificates",
      title: "Removing certificates",
      async run(ctx) {
        // The domain entry is a symlink into _versions/<domain>/: both go (removeCertificate).
        const { domain } = loadEnvById(ctx.deps.db, ctx.params.envId);
        if (isDomain(domain)) removeCertificate(ctx.deps.paths.certsDir, domain);
      },
    },
    {
      name: "database",
      title: "Dropping the databases and their role",
      when: (p) => !p.keepDatabase,
      async run(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        await envHost(ctx.deps).withAdmin(async (sql) => {
          if (ctx.deps.config.postgres.hbaFile !== "")
            await removeHbaEntry(sql, ctx.deps.config.postgres.hbaFile, env.dbName);
          // Every copy kept beside the live one (rollback --restore-db, --keep-old, an undone
          // migrate, a half-done restore) is owned by the env's role, which cannot go before them.
          const dropped = await envDatabases(sql, env.dbName, env.dbUser);
          for (const name of dropped) await dropDatabase(sql, name);
          if (dropped.length > 0) ctx.log(`dropped ${dropped.join(", ")}`);
          await dropRole(sql, env.dbUser);
        });
      },
    },
    {
      name: "files",
      title: "Removing the filestore and configuration",
      async run(ctx) {
        const r = envResources(loadEnvById(ctx.deps.db, ctx.params.envId), ctx.deps);
        if (ctx.params.keepDatabase) {
          // The filestore belongs with the kept database; only the generated config goes.
          rmSync(r.confFile, { force: true });
          ctx.log(`kept the filestore in ${r.dataDir} with the database`);
          return;
        }
        rmSync(r.dir, { recursive: true, force: true });
      },
    },
    {
      name: "network",
      title: "Removing the network",
      async run(ctx) {
        const env = loadEnvById(ctx.deps.db, ctx.params.envId);
        await run(envHost(ctx.deps).docker.networkRm(envResources(env, ctx.deps).network), { nothrow: true });
      },
    },
  ],
  async succeeded(ctx) {
    markDestroyed(ctx.deps.db, ctx.params.envId, { keptDatabase: ctx.params.keepDatabase });
    return { env: ctx.params.slug, keptDatabase: ctx.params.keepDatabase };
  },
  async failed(ctx, error, cancelled) {
    const { finalBackupId, previousStatus } = ctx.params;
    if (finalBackupId) failRunningBackup(ctx.deps.db, finalBackupId, cancelled ? "destroy cancelled" : error);
    // No final backup completed: the job stopped before its first removal, the env is as it was.
    const untouched =
      finalBackupId !== null &&
      ctx.deps.db.select({ status: backups.status }).from(backups).where(eq(backups.id, finalBackupId)).get()
        ?.status !== "completed";
    if (untouched && previousStatus) {
      markDestroyAborted(
        ctx.deps.db,
        ctx.params.envId,
        previousStatus,
        `destroy ${cancelled ? "cancelled" : "aborted"}: ${error}`,
      );
      return;
    }
    markFailed(ctx.deps.db, ctx.params.envId, `destroy failed: ${error} (rerun env destroy)`);
  },
});

export const PowerParams = z.object({ envId: z.string().min(1), slug: z.string().min(1) });
export type PowerParams = z.infer<typeof PowerParams>;
type PowerCtx = StepContext<PowerParams>;

function servingContainer(ctx: PowerCtx): string {
  const env = loadEnvById(ctx.deps.db, ctx.params.envId);
  if (!env.containerName)
    throw new Conflict(`environment ${env.slug} has no container (status ${env.status}); recreate it`);
  return env.containerName;
}

async function healthy(ctx: PowerCtx): Promise<void> {
  const env = loadEnvById(ctx.deps.db, ctx.params.envId);
  await waitEnvServed(ctx.deps, env, ctx);
}

function powerJob(action: "start" | "stop" | "restart") {
  const d = (deps: Deps) => envHost(deps).docker;
  const verbs = {
    start: {
      title: "Starting the container",
      mark: markActive,
      cmd: (ctx: PowerCtx) => d(ctx.deps).start(servingContainer(ctx)),
    },
    stop: {
      title: "Stopping the container",
      mark: markStopped,
      cmd: (ctx: PowerCtx) => d(ctx.deps).stop(servingContainer(ctx), 30),
    },
    restart: {
      title: "Restarting the container",
      mark: markActive,
      cmd: (ctx: PowerCtx) => d(ctx.deps).restart(servingContainer(ctx), 30),
    },
  }[action];
  return defineJob<PowerParams>({
    kind: `env.${action}`,
    params: PowerParams,
    ...onEnv,
    steps: [
      {
        name: action,
        title: verbs.title,
        async run(ctx) {
          await run(verbs.cmd(ctx));
        },
      },
      {
        name: "health",
        title: "Waiting for Odoo to answer",
        when: () => action !== "stop",
        async run(ctx) {
          await healthy(ctx);
        },
      },
    ],
    async succeeded(ctx) {
      verbs.mark(ctx.deps.db, ctx.params.envId);
    },
  });
}

export const startEnvJob = powerJob("start");
export const stopEnvJob = powerJob("stop");
export const restartEnvJob = powerJob("restart");
