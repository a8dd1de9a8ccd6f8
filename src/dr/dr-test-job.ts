/**
 * `dr test` as a job: the env's chosen backup restored into a throwaway copy (a scratch role,
 * database and data dir, deploy/scratch.ts), verified against its manifest (sizes, sha256, row
 * counts, modules: restoreBackup), neutralized, booted with the env's serving image on free
 * ports and health-checked like a release; then everything it made is removed, on success,
 * failure or a rerun after a crash (the scratch names derive from the job id). The env itself is
 * never touched: only its backup is read.
 */
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { readdirSync, renameSync, rmdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { eq } from "drizzle-orm";
import { z } from "zod";
import { backups } from "../db/backup.sql";
import { type BackupSource, type ManifestTrust, neutralizeDatabase, restoreBackup } from "../db/backup";
import { servingImage } from "../db/migrate";
import { adminPg } from "../db/replace-steps";
import { manifestTrust, readableSource } from "../db/restore-job";
import { transferSource } from "../db/transfer";
import { bootOnScratch, withScratchDatabase } from "../deploy/scratch";
import { waitReleaseHealthy } from "../deploy/release";
import { envHost } from "../env/host";
import { loadEnvById } from "../env/lookup";
import { envLabels, envResources } from "../env/resources";
import { scratchDbLogin } from "../env/tenant-login";
import { Invalid, NotFound, errorText } from "../errors";
import { run } from "../exec/run";
import { envFromWire } from "../fleet/mirror-wire";
import { defineJob, EnvJobTarget, onEnv, stepOutput, storingStep } from "../jobs/define";
import { stepLogger } from "../jobs/step-logger";
import type { Deps } from "../deps";
import type { Environment } from "../env/env.sql";
import { failDrTest, markDrTestStarted, noteDrTestFailure, passDrTest, type DrTestStep } from "./dr-test-records";
import { DR_TEST_STEPS } from "./dr-tests.sql";
import { RemoteDrTest } from "./test-placement";

export const DrTestParams = EnvJobTarget.extend({
  drTestId: z.string().min(1),
  backupId: z.string().min(1),
  /** Set when the test runs on another host than the env's (test-placement.ts). */
  remote: RemoteDrTest.optional(),
});
export type DrTestParams = z.infer<typeof DrTestParams>;

/** A restored copy must never link back to the live site (mails, redirects). */
const DR_TEST_URL = "http://dr-test.invalid";

/** The copy's container: one per env (the job holds the env's lock), removed by the daemon's start sweep too. */
export function drTestContainer(env: Pick<Environment, "slug" | "domain">, deps: Pick<Deps, "paths" | "config">) {
  return `${envResources(env, deps).initContainer}-drtest`;
}

/**
 * The env under test. On another host its row is not in this host's state: it comes with the
 * params, and the copy gets passwords of its own (odoo.conf needs a master password).
 */
function testedEnv(deps: Pick<Deps, "db" | "box">, p: DrTestParams): Environment {
  if (!p.remote) return loadEnvById(deps.db, p.envId);
  const secret = () => randomBytes(24).toString("base64url");
  return envFromWire(deps.box, {
    ...p.remote.env,
    dbPassword: secret(),
    adminPasswd: secret(),
    odooAdminPassword: null,
    // Its ports and container are the env host's, nothing of this one's.
    httpPort: null,
    longpollPort: null,
    containerName: null,
  });
}

/**
 * On another host the copy gets a docker network of its own (the env's is not there), named
 * apart from the env's so the env could still move here later.
 */
export function drTestNetwork(env: Pick<Environment, "slug" | "domain">, deps: Pick<Deps, "paths" | "config">) {
  return `${envResources(env, deps).network}-drtest`;
}

/** The network, and the env's dir the scratch copy lived in when nothing else is in it: on this host they were only the test's. */
async function removeRemoteLeftovers(deps: Deps, env: Environment): Promise<void> {
  await run(envHost(deps).docker.networkRm(drTestNetwork(env, deps)), { nothrow: true });
  const dir = envResources(env, deps).dir;
  try {
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

/**
 * The backup and where this host reads it: on another host than the env's, from the shared S3
 * target, checked against the manifest the coordinator's state recorded (db/transfer.ts).
 */
interface TestedBackup {
  row: { id: string; createdAt: string };
  source: BackupSource;
  trust: ManifestTrust;
}

function backupSource(deps: Pick<Deps, "db" | "config" | "box">, p: DrTestParams): TestedBackup {
  if (p.remote) {
    const t = p.remote.backup.transfer;
    return {
      row: { id: p.backupId, createdAt: p.remote.backup.createdAt },
      source: transferSource(deps.config, t),
      trust: { ...manifestTrust(deps), expected: t.manifest },
    };
  }
  const row = deps.db.select().from(backups).where(eq(backups.id, p.backupId)).get();
  if (!row) throw new NotFound(`backup ${p.backupId} no longer exists`);
  return { row, source: readableSource(deps.config, row), trust: manifestTrust(deps) };
}

/** A passed test's result: what the coordinator records when it ran on an agent (remote-result.ts). */
export const DrTestResult = z.object({
  drTestId: z.string(),
  backupId: z.string(),
  rtoMs: z.number().int().min(0),
  rpoSec: z.number().int().min(0),
  startedAt: z.string(),
  image: z.string(),
});
export type DrTestResult = z.infer<typeof DrTestResult>;

/** An error of one of the test's steps, so the record says where it failed. */
class StepFailed extends Error {
  constructor(
    readonly step: DrTestStep,
    readonly cause: unknown,
  ) {
    super(`${step}: ${errorText(cause)}`);
  }
}

/**
 * Where a test that ran on an agent failed, from its step's error: the step "backup" fails as
 * itself; the step "test" with a StepFailed, whose message starts with the part that failed.
 */
export function failureOf(jobStep: string, error: string): { step: DrTestStep; reason: string } {
  if (jobStep === "backup") return { step: "backup", reason: error };
  const m = /^(\w+): ([\s\S]*)$/.exec(error);
  const step = DR_TEST_STEPS.find((s) => s !== "backup" && s === m?.[1]);
  return step && m ? { step, reason: m[2] ?? "" } : { step: "restore", reason: error };
}

async function inStep<T>(step: DrTestStep, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw e instanceof StepFailed ? e : new StepFailed(step, e);
  }
}

/** Step "backup"'s output: the coordinator reads it from the step report of a test run on an agent. */
export const BackupOut = stepOutput(
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
          const { row } = backupSource(deps, p);
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
          return await restoreAndBoot(ctx.deps, testedEnv(ctx.deps, ctx.params), ctx.params, ctx.jobId, ctx);
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
    const result: DrTestResult = {
      drTestId: ctx.params.drTestId,
      backupId: b.backupId,
      rtoMs: t.rtoMs,
      rpoSec: b.rpoSec,
      startedAt: b.startedAt,
      image: t.image,
    };
    return result;
  },
  async failed(ctx, error, cancelled) {
    // The copy is gone already (withScratchDatabase's finally); a container of a killed attempt may not be.
    const env = testedEnv(ctx.deps, ctx.params);
    await run(envHost(ctx.deps).docker.rm(drTestContainer(env, ctx.deps), { force: true }), { nothrow: true });
    if (ctx.params.remote) await removeRemoteLeftovers(ctx.deps, env);
    failDrTest(ctx.deps.db, ctx.params.drTestId, cancelled ? "cancelled" : error);
  },
});

interface Io {
  log(line: string): void;
  signal: AbortSignal;
}

async function restoreAndBoot(deps: Deps, env: Environment, p: DrTestParams, jobId: string, io: Io) {
  const { row, source, trust } = await inStep("backup", async () => backupSource(deps, p));
  const image = p.remote ? p.remote.image : await servingImage(deps, env);
  if (p.remote) {
    const net = drTestNetwork(env, deps);
    await inStep("restore", () => envHost(deps).dockerClient.ensureNetwork(net, envLabels(env, "network")));
    try {
      return await onScratch(deps, env, jobId, io, { row, source, trust, image, network: net });
    } finally {
      await removeRemoteLeftovers(deps, env);
    }
  }
  return onScratch(deps, env, jobId, io, { row, source, trust, image });
}

async function onScratch(
  deps: Deps,
  env: Environment,
  jobId: string,
  io: Io,
  b: TestedBackup & { image: string; network?: string },
) {
  const { row, source, image } = b;
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
        manifestTrust: b.trust,
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
    { empty: false, network: b.network },
  ).catch((e: unknown) => {
    // Errors of the copy's setup (role, pg_hba, network) are the restore's; of its removal, cleanup's.
    throw e instanceof StepFailed ? e : new StepFailed(tested ? "cleanup" : "restore", e);
  });
}
