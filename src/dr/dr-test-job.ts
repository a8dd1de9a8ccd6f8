/**
 * `dr test` as a job: the env's chosen backup restored into a throwaway copy (a scratch role,
 * database and data dir, deploy/scratch.ts), verified against its manifest (sizes, sha256, row
 * counts, modules: restoreBackup), neutralized, booted with the env's serving image on free
 * ports and health-checked like a release; then everything it made is removed, on success,
 * failure or a rerun after a crash (the scratch names derive from the job id). The env itself is
 * never touched: only its backup is read.
 */
import { availableParallelism } from "node:os";
import { renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { eq } from "drizzle-orm";
import { z } from "zod";
import { backups } from "../db/backup.sql";
import { neutralizeDatabase, restoreBackup } from "../db/backup";
import { servingImage } from "../db/migrate";
import { adminPg } from "../db/replace-steps";
import { manifestTrust, readableSource } from "../db/restore-job";
import { bootOnScratch, withScratchDatabase } from "../deploy/scratch";
import { waitReleaseHealthy } from "../deploy/release";
import { envHost } from "../env/host";
import { loadEnvById } from "../env/lookup";
import { envResources } from "../env/resources";
import { scratchDbLogin } from "../env/tenant-login";
import { Invalid, NotFound, errorText } from "../errors";
import { run } from "../exec/run";
import { defineJob, EnvJobTarget, onEnv, stepOutput, storingStep } from "../jobs/define";
import { stepLogger } from "../jobs/step-logger";
import type { Deps } from "../deps";
import type { Environment } from "../env/env.sql";
import { failDrTest, markDrTestStarted, noteDrTestFailure, passDrTest, type DrTestStep } from "./dr-test-records";

export const DrTestParams = EnvJobTarget.extend({ drTestId: z.string().min(1), backupId: z.string().min(1) });
export type DrTestParams = z.infer<typeof DrTestParams>;

/** A restored copy must never link back to the live site (mails, redirects). */
const DR_TEST_URL = "http://dr-test.invalid";

/** The copy's container: one per env (the job holds the env's lock), removed by the daemon's start sweep too. */
export function drTestContainer(env: Pick<Environment, "slug" | "domain">, deps: Pick<Deps, "paths" | "config">) {
  return `${envResources(env, deps).initContainer}-drtest`;
}

/** An error of one of the test's steps, so the record says where it failed. */
class StepFailed extends Error {
  constructor(
    readonly step: DrTestStep,
    readonly cause: unknown,
  ) {
    super(`${step}: ${errorText(cause)}`);
  }
}

async function inStep<T>(step: DrTestStep, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw e instanceof StepFailed ? e : new StepFailed(step, e);
  }
}

const BackupOut = stepOutput(
  "backup",
  z.object({ backupId: z.string(), startedAt: z.string(), rpoSec: z.number().int().min(0) }),
);
const TestOut = stepOutput(
  "test",
  z.object({
    rtoMs: z.number().int().min(0),
    image: z.string(),
    tables: z.number().int(),
    modules: z.number().int(),
    rowCounts: z.record(z.string(), z.number()),
  }),
);

export const drTestJob = defineJob<DrTestParams>({
  kind: "dr-test",
  params: DrTestParams,
  ...onEnv,
  steps: [
    storingStep(BackupOut, {
      title: "Checking the backup is restorable and how old it is (RPO)",
      async run(ctx) {
        const { deps, params: p } = ctx;
        try {
          const row = deps.db.select().from(backups).where(eq(backups.id, p.backupId)).get();
          if (!row) throw new NotFound(`backup ${p.backupId} no longer exists`);
          readableSource(deps.config, row);
          const startedAt = new Date().toISOString();
          // The data is as of the dump's start: its age is what a restore now would lose.
          const rpoSec = Math.max(0, Math.round((Date.parse(startedAt) - Date.parse(row.createdAt)) / 1000));
          markDrTestStarted(deps.db, p.drTestId, { startedAt, backupId: row.id, rpoSec });
          ctx.log(`backup ${row.id} of ${p.slug}, taken ${row.createdAt}: RPO ${rpoSec} s`);
          return { backupId: row.id, startedAt, rpoSec };
        } catch (e) {
          noteDrTestFailure(deps.db, p.drTestId, "backup", errorText(e));
          throw e;
        }
      },
    }),
    storingStep(TestOut, {
      title: "Restoring it into a throwaway copy, verifying, booting it and checking its health (RTO)",
      async run(ctx) {
        try {
          return await restoreAndBoot(ctx.deps, loadEnvById(ctx.deps.db, ctx.params.envId), ctx.params, ctx.jobId, ctx);
        } catch (e) {
          const failed = e instanceof StepFailed ? e : new StepFailed("restore", e);
          noteDrTestFailure(ctx.deps.db, ctx.params.drTestId, failed.step, errorText(failed.cause));
          throw failed;
        }
      },
    }),
  ],
  async succeeded(ctx) {
    const t = ctx.output(TestOut);
    const b = ctx.output(BackupOut);
    passDrTest(ctx.deps.db, ctx.params.drTestId, t.rtoMs);
    return { drTestId: ctx.params.drTestId, backupId: b.backupId, rtoMs: t.rtoMs, rpoSec: b.rpoSec, image: t.image };
  },
  async failed(ctx, error, cancelled) {
    // The copy is gone already (withScratchDatabase's finally); a container of a killed attempt may not be.
    const env = loadEnvById(ctx.deps.db, ctx.params.envId);
    await run(envHost(ctx.deps).docker.rm(drTestContainer(env, ctx.deps), { force: true }), { nothrow: true });
    failDrTest(ctx.deps.db, ctx.params.drTestId, cancelled ? "cancelled" : error);
  },
});

interface Io {
  log(line: string): void;
  signal: AbortSignal;
}

async function restoreAndBoot(deps: Deps, env: Environment, p: DrTestParams, jobId: string, io: Io) {
  const row = deps.db.select().from(backups).where(eq(backups.id, p.backupId)).get();
  if (!row) throw new StepFailed("backup", new NotFound(`backup ${p.backupId} no longer exists`));
  const source = readableSource(deps.config, row);
  const image = await servingImage(deps, env);
  // Set when the copy was tested: an error after it comes from removing the copy.
  let tested = false;
  return withScratchDatabase(
    deps,
    env,
    { purpose: "dr-test", jobId, log: io.log },
    async (s) => {
      const t0 = performance.now();
      const login = scratchDbLogin(deps, s.login);
      const filestoreTargetDir = join(s.dataDir, "filestore", s.login.name);
      // restoreBackup checks the parts' sizes and sha256 and the restored facts: its Invalid is a verification failure.
      const restored = await restoreBackup({
        pg: adminPg(deps),
        source,
        newDbName: s.login.name,
        owner: { host: login.host, port: login.port, user: login.user, password: login.password },
        jobs: availableParallelism(),
        filestoreTargetDir,
        workDir: join(dirname(s.confFile), "work"),
        log: stepLogger(io, { backup: row.id }),
        signal: io.signal,
        manifestTrust: manifestTrust(deps),
        filestoreOwner: { uid: deps.config.odoo.uid, gid: deps.config.odoo.gid },
      }).catch((e: unknown) => {
        throw new StepFailed(e instanceof Invalid ? "verify" : "restore", e);
      });
      renameSync(restored.stagedFilestoreDir, filestoreTargetDir);
      io.log(
        `backup ${row.id} restored into ${s.login.name} and verified: ${restored.checks.tableCount} tables, ${restored.checks.modules} modules, ${Object.keys(restored.checks.rowCounts).length} row counts and both sha256 match the manifest`,
      );
      // Production data with its crons and mail servers on would mail real customers from the copy.
      await inStep("restore", async () => {
        const n = await neutralizeDatabase(login, { baseUrl: DR_TEST_URL }, stepLogger(io));
        io.log(`neutralized the copy: ${n.cronsDisabled} crons and ${n.mailServersDisabled} mail servers off`);
      });
      const host = envHost(deps);
      const name = drTestContainer(env, deps);
      const ports = await inStep("boot", async () => {
        const { http, longpoll } = await bootOnScratch(deps, env, s, name, image);
        io.log(`booted ${image} as ${name} on 127.0.0.1:${http} / :${longpoll}`);
        return { http, longpoll };
      });
      try {
        await inStep("health", () =>
          // With workers the gevent port (websockets) must answer too, as for a served env.
          waitReleaseHealthy(
            deps,
            name,
            { http: ports.http, longpoll: env.workers > 0 ? ports.longpoll : null },
            s.login.name,
            io,
          ).catch(async (e: unknown) => {
            const logs = await run(host.docker.logs(name, { tail: 30 }), { nothrow: true });
            io.log(`last output of the copy:\n${logs.stdout}${logs.stderr}`);
            throw e;
          }),
        );
      } finally {
        await run(host.docker.rm(name, { force: true }), { nothrow: true });
      }
      const rtoMs = Math.max(1, Math.round(performance.now() - t0));
      tested = true;
      io.log(`the copy answered healthy ${(rtoMs / 1000).toFixed(1)} s after the restore started (RTO)`);
      return {
        rtoMs,
        image,
        tables: restored.checks.tableCount,
        modules: restored.checks.modules,
        rowCounts: restored.checks.rowCounts,
      };
    },
    { empty: false },
  ).catch((e: unknown) => {
    // Errors of the copy's setup (role, pg_hba, network) are the restore's; of its removal, cleanup's.
    throw e instanceof StepFailed ? e : new StepFailed(tested ? "cleanup" : "restore", e);
  });
}
