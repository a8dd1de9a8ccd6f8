/**
 * `dr rebuild` of one env as a job: what `env create` makes (network, role, dirs, odoo.conf,
 * container, vhost, certificate), but with the env's data from its newest verified backup and
 * the image of its deployed release. Every step is idempotent and a rerun after a crash finishes
 * it; an env that is already there (container running, database present) is left alone.
 */
import { availableParallelism } from "node:os";
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { cleanupRestore, restoreBackup, restoreScratch, swapDatabases, swapFilestore } from "../db/backup";
import { adminPg } from "../db/replace-steps";
import { manifestTrust } from "../db/restore-job";
import { readManifest } from "../db/backup";
import { buildReleaseForJob, jobBuildDir } from "../deploy/build";
import { imagePull, imageTag } from "../deploy/commands";
import { fetchCommit } from "../deploy/source";
import { Conflict, errorText } from "../errors";
import { run } from "../exec/run";
import { createRole, databaseExists, setHbaEntry } from "../host/postgres";
import { EnvJobParams } from "../env/create-job";
import type { Environment } from "../env/env.sql";
import { envHost } from "../env/host";
import { loadEnvById } from "../env/lookup";
import { odooConfFor, writeOdooConf } from "../env/odoo-conf";
import { envResources } from "../env/resources";
import { markEnvServed, networkOutput, networkStep, servingSteps, startWebContainer } from "../env/web-serving";
import { envDbLogin } from "../env/tenant-login";
import { defineJob, onEnv, stepOutput, storingStep, type StepContext } from "../jobs/define";
import { stepLogger } from "../jobs/step-logger";
import { imagePlan, readableBackups, servingImage } from "./rebuild-plan";

type Ctx = StepContext<EnvJobParams>;
const envOf = (ctx: Ctx): Environment => loadEnvById(ctx.deps.db, ctx.params.envId);

/**
 * The deployed release built again from its commit, as the deploy built it: the project's
 * repository is fetched into the mirror (cloned anew after a lost host), the image tagged with
 * the name the state records.
 */
async function buildFromCommit(ctx: Ctx, env: Environment, image: string, commit: string): Promise<void> {
  const { mirror, sha } = await fetchCommit(ctx.deps, env, { sha: commit }, ctx);
  try {
    const built = await buildReleaseForJob(ctx, env, mirror, sha);
    if (built.image !== image) await run(imageTag(ctx.deps.config.docker, built.image, image));
    ctx.log(`${built.reused ? "found" : "built"} ${image} from commit ${sha}`);
  } finally {
    rmSync(jobBuildDir(ctx.deps.paths.workDir, ctx.jobId), { recursive: true, force: true });
  }
}

/** What was already on the host when the job started: a present env is left alone. */
const presentOutput = stepOutput(
  "present",
  z.object({ running: z.boolean(), database: z.boolean(), container: z.string().nullable() }),
);
const backupOutput = stepOutput("backup", z.object({ id: z.string().nullable(), createdAt: z.string().nullable() }));
const imageOutput = stepOutput("image", z.object({ image: z.string(), from: z.string() }));

const alreadyThere = (ctx: Ctx): boolean => ctx.output(presentOutput).running;

/** The database the backup is restored into before it takes the env's name (rename = the commit point). */
export function stagingDbName(dbName: string): string {
  return `${dbName.slice(0, 50)}_dr_rebuild`;
}

export const rebuildEnvJob = defineJob<EnvJobParams>({
  kind: "dr.rebuild",
  params: EnvJobParams,
  ...onEnv,
  steps: [
    storingStep(presentOutput, {
      title: "Looking for what is already there",
      async run(ctx) {
        const env = envOf(ctx);
        const host = envHost(ctx.deps);
        const database = await host.withAdmin((sql) => databaseExists(sql, env.dbName));
        const info = env.containerName ? await host.dockerClient.inspectContainer(env.containerName) : null;
        const running = database && info?.State.Running === true;
        ctx.log(
          running
            ? `${env.slug} is already running (container ${env.containerName}, database ${env.dbName}): left alone`
            : `database ${env.dbName}: ${database ? "present, kept" : "missing"}; container: ${info ? "stopped" : "missing"}`,
        );
        return { running, database, container: info ? env.containerName : null };
      },
    }),
    networkStep<EnvJobParams>({ undo: false }),
    {
      name: "role",
      title: "Creating the database role",
      async run(ctx) {
        if (alreadyThere(ctx)) return;
        const env = envOf(ctx);
        await envHost(ctx.deps).withAdmin(async (sql) => {
          ctx.log(`role ${env.dbUser}: ${await createRole(sql, env.dbUser, ctx.deps.box.open(env.dbPasswordEnc))}`);
          if (ctx.deps.config.postgres.hbaFile !== "")
            await setHbaEntry(sql, ctx.deps.config.postgres.hbaFile, {
              db: env.dbName,
              role: env.dbUser,
              cidr: ctx.output(networkOutput).subnet,
              extraDbs: ["postgres"],
            });
        });
      },
    },
    {
      name: "files",
      title: "Preparing the data dir and odoo.conf",
      async run(ctx) {
        if (alreadyThere(ctx)) return;
        const env = envOf(ctx);
        const r = envResources(env, ctx.deps);
        const { uid, gid } = ctx.deps.config.odoo;
        mkdirSync(join(r.dataDir, "filestore"), { recursive: true, mode: 0o750 });
        chmodSync(r.dir, 0o755);
        // The Odoo image runs as uid 101: it owns its data dir and the filestore root.
        chownSync(r.dataDir, uid, gid);
        chownSync(join(r.dataDir, "filestore"), uid, gid);
        writeOdooConf(ctx.deps, r.confFile, odooConfFor(ctx.deps, env));
      },
    },
    storingStep(backupOutput, {
      title: "Choosing the newest verified backup",
      async run(ctx) {
        if (ctx.output(presentOutput).database) return { id: null, createdAt: null };
        const env = envOf(ctx);
        const trust = manifestTrust(ctx.deps);
        const failures: string[] = [];
        // Newest first; one whose manifest does not authenticate is skipped with its reason.
        for (const { row, source } of readableBackups(ctx.deps, env.id)) {
          try {
            await readManifest(source, trust);
            ctx.log(`backup ${row.id} of ${row.createdAt} (${source.kind}): manifest verified`);
            return { id: row.id, createdAt: row.createdAt };
          } catch (e) {
            failures.push(`${row.id}: ${errorText(e)}`);
            ctx.log(`warning: backup ${row.id} skipped: ${errorText(e)}`);
          }
        }
        throw new Conflict(
          `no verified backup of ${env.slug} readable from this host${failures.length > 0 ? ` (${failures.join("; ")})` : " (none in state, or only local copies of the lost host and no backups.s3)"}`,
        );
      },
    }),
    {
      name: "restore",
      title: "Restoring the database and filestore",
      async run(ctx) {
        const { id } = ctx.output(backupOutput);
        if (id === null) return;
        const { deps } = ctx;
        const env = envOf(ctx);
        const chosen = readableBackups(deps, env.id).find((b) => b.row.id === id);
        if (!chosen) throw new Conflict(`backup ${id} of ${env.slug} is no longer readable from this host`);
        const scratch = {
          pg: adminPg(deps),
          newDbName: stagingDbName(env.dbName),
          filestoreTargetDir: join(envResources(env, deps).dataDir, "filestore", env.dbName),
          workDir: deps.paths.workDir,
        };
        const { stagedDir } = restoreScratch(scratch);
        const host = envHost(deps);
        // The rename below is the commit point: a rerun after it only finishes the filestore.
        if (!(await host.withAdmin((sql) => databaseExists(sql, env.dbName)))) {
          await cleanupRestore(scratch);
          mkdirSync(deps.paths.workDir, { recursive: true });
          const r = await restoreBackup({
            ...scratch,
            source: chosen.source,
            owner: envDbLogin(deps, env),
            jobs: availableParallelism(),
            log: stepLogger(ctx, { backup: id }),
            signal: ctx.signal,
            filestoreOwner: { uid: deps.config.odoo.uid, gid: deps.config.odoo.gid },
            manifestTrust: manifestTrust(deps),
          });
          ctx.log(`backup ${id} restored and verified (${r.checks.tableCount} tables, ${r.checks.modules} modules)`);
          await host.withAdmin((sql) => swapDatabases(sql, { current: env.dbName, replacement: scratch.newDbName }));
        }
        if (existsSync(stagedDir)) await swapFilestore(scratch.filestoreTargetDir, stagedDir);
      },
    },
    storingStep(imageOutput, {
      title: "Getting the release image",
      async run(ctx) {
        const env = envOf(ctx);
        const img = servingImage(ctx.deps.db, env);
        const host = envHost(ctx.deps);
        const present = (await host.dockerClient.inspectImage(img.image)) !== null;
        const plan = imagePlan(ctx.deps.config, img, present);
        if (plan.from === null) throw new Conflict(plan.reason);
        const docker = { binary: ctx.deps.config.docker.binary };
        let from: string = plan.from;
        if (plan.pull !== null) {
          ctx.log(`pulling ${plan.pull}`);
          try {
            await run(imagePull(docker, plan.pull), { onLine: (_s, line) => ctx.log(line), signal: ctx.signal });
            // The container runs the image under the name the state records.
            if (plan.pull !== img.image) await run(imageTag(docker, plan.pull, img.image));
          } catch (e) {
            // Not in the registry (never pushed, or pruned there): the commit still makes it.
            if (plan.from !== "registry" || !img.commit || ctx.signal.aborted) throw e;
            ctx.log(`warning: ${plan.pull} could not be pulled (${errorText(e)}); building it from its commit`);
            from = "build";
          }
        }
        if (from === "build" && img.commit) await buildFromCommit(ctx, env, img.image, img.commit);
        ctx.log(`image ${img.image}: ${from}`);
        return { image: img.image, from };
      },
    }),
    ...servingSteps<EnvJobParams>({
      // The env's own ports when this host has them free (nothing else records them): the vhost stays as it was.
      start: (ctx) =>
        startWebContainer(ctx.deps, envOf(ctx), {
          image: ctx.output(imageOutput).image,
          reuseStoredPorts: true,
          log: ctx.log,
        }),
      undo: false,
    }),
  ],
  async succeeded(ctx) {
    const env = markEnvServed(ctx);
    const backup = ctx.output(backupOutput);
    return {
      env: env.slug,
      alreadyRunning: ctx.output(presentOutput).running,
      backup: backup.id,
      backupCreatedAt: backup.createdAt,
      image: ctx.output(imageOutput),
    };
  },
});
