/**
 * The steps restore and clone share once a copy is being prepared beside the live database:
 * an optional backup first, sanitizing the copy, then stop → swap → start → health → drop the
 * old one. Until the swap the env keeps serving; any failure after it swaps back (undo) and
 * starts the env again on its old database. Each step is idempotent (see replace.ts), except
 * sanitizing, which is not repeated after a crash: the job fails and the copy is discarded.
 */
import { chown, mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import { installedModules } from "../odoo/modules";
import { seriesOf } from "./backup";
import { noteStatusReason, recordOdooAdminPassword } from "../env/state";
import { runOdooOnce } from "../env/odoo-once";
import { Conflict, errorText } from "../errors";
import { waitEnvServed } from "../env/served";
import { envHost } from "../env/host";
import { loadEnvById } from "../env/lookup";
import { CONTAINER_CONF, CONTAINER_DATA, envLabels, envResources } from "../env/resources";
import { envUrl } from "../env/list";
import type { Environment } from "../env/env.sql";
import { newOdooPassword, ODOO_ADMIN_LOGIN } from "../env/odoo-admin";
import { envDbLogin } from "../env/tenant-login";
import { withSealedSecrets } from "../jobs/secrets";
import { run } from "../exec/run";
import { databaseExists, dropDatabase } from "../host/postgres/ops";
import { type StepContext, type StepDef, stepOutput, storingStep } from "../jobs/define";
import type { Deps } from "../deps";
import { stepLogger } from "../jobs/step-logger";
import { anonymizeFilestoreInPlace } from "./anonymize/filestore";
import { anonymizeRulesFor, type RulesChoice } from "./anonymize-rules";
import { OneRunRules } from "./schema";
import { cleanupRestore, discardDir, type PgAdmin } from "./backup";
import { backupBeforeChange, failRunningBackup } from "./backup-job";
import { replaceNames, swapBack, swapIn, type ReplaceNames } from "./replace";
import { planMigration, readImageModules, servingImage } from "./migrate";
import { hasNeutralizeCommand, sanitizeCopy } from "./sanitize";

export const ReplaceParams = z.object({
  /** The env whose database is replaced (the lock). */
  envId: z.string().min(1),
  slug: z.string().min(1),
  /** Whose data it is (the same env for a restore of its own backup). */
  sourceEnvId: z.string().min(1),
  sourceSlug: z.string().min(1),
  /** Fixes every scratch name (see replace.ts). */
  token: z.string().regex(/^[a-z0-9]{8}$/),
  keepOld: z.boolean(),
  anonymize: z.boolean(),
  neutralize: z.boolean(),
  /** Another env's data: the copy gets the target's URL and a new database.uuid/secret. */
  rebase: z.boolean(),
  /** A backup of the target taken before anything changes (production targets). */
  preBackupId: z.string().nullable(),
  /** `db clone --rules FILE`: rules for this copy only, over every other layer (anonymize-rules.ts). */
  rules: OneRunRules.optional(),
  /**
   * The copy's installed module versions differ from the serving image's manifests: "apply" runs
   * the `db migrate` update (-u) before Odoo serves it, "refuse" fails with the plan and swaps
   * back. Unset: apply for non-production, refuse for production.
   */
  onModuleMismatch: z.enum(["apply", "refuse"]).optional(),
});
export type ReplaceParams = z.infer<typeof ReplaceParams>;
type Ctx = StepContext<ReplaceParams>;

export function adminPg(deps: Pick<Deps, "config">): PgAdmin {
  const { host, port, user, password } = deps.config.postgres;
  return { host, port, user, password };
}

export function namesOf(deps: Pick<Deps, "config" | "paths">, env: Environment, token: string): ReplaceNames {
  return replaceNames(env.dbName, envResources(env, deps).dataDir, token);
}

/** The target env, its names, and what `cleanupRestore` needs to discard a prepared copy. */
export function preparedCopy(deps: Deps, p: ReplaceParams) {
  const env = loadEnvById(deps.db, p.envId);
  const n = namesOf(deps, env, p.token);
  return {
    env,
    n,
    cleanup: { pg: adminPg(deps), newDbName: n.newDb, filestoreTargetDir: n.filestoreDir, workDir: deps.paths.workDir },
  };
}

/** Odoo serves the env only when it is active; a stopped env is replaced and left stopped. */
function serving(env: Environment): string | null {
  return env.status === "active" && env.containerName ? env.containerName : null;
}

/** `<dataDir>/filestore` owned by Odoo's user, so Odoo can add its own directories later. */
export async function ensureFilestoreRoot(deps: Pick<Deps, "config">, n: ReplaceNames): Promise<void> {
  const root = dirname(n.filestoreDir);
  if (
    await stat(root).then(
      () => true,
      () => false,
    )
  )
    return;
  await mkdir(root, { recursive: true, mode: 0o750 });
  await chown(root, deps.config.odoo.uid, deps.config.odoo.gid);
}

async function healthy(ctx: Pick<Ctx, "deps" | "signal" | "log">, env: Environment): Promise<void> {
  await waitEnvServed(ctx.deps, env, ctx);
}

/** Clone's `copy` step: how it copied, and for an anonymized copy what sanitizing must not redo. */
export const copyOutput = stepOutput(
  "copy",
  z.object({
    method: z.string(),
    reason: z.string(),
    filestore: z.enum(["anonymized", "copy", "empty"]),
    anonymized: z
      .object({
        rulesFrom: z.string(),
        piiExclude: z.array(z.string()),
        tables: z.array(z.string()),
        devPasswordEnc: z.string(),
      })
      .optional(),
  }),
);

/** The Odoo series decides `odoo neutralize`; the copy's sealed password becomes the env's. */
const sanitizeOutput = stepOutput(
  "sanitize",
  z.object({ odooSeries: z.string().nullable(), devPasswordEnc: z.string().nullable() }),
);

/** What is left of the previous database, for the job's result. */
export const finalizeOutput = stepOutput(
  "finalize",
  z.object({
    kept: z.object({ db: z.string(), filestore: z.string() }).nullable(),
    leftovers: z.array(z.string()),
  }),
);

export function preBackupStep<P extends ReplaceParams>(): StepDef<P> {
  return {
    name: "pre-backup",
    title: "Backing up the current database first",
    when: (p) => p.preBackupId !== null,
    async run(ctx) {
      const env = loadEnvById(ctx.deps.db, ctx.params.envId);
      await backupBeforeChange(ctx.deps, env, ctx.params.preBackupId ?? "", "pre_restore", ctx);
    },
  };
}

export function sanitizeStep<P extends ReplaceParams>(): StepDef<P> {
  return storingStep(sanitizeOutput, {
    title: "Anonymizing / neutralizing the copy",
    // A non-production target always: its own URL, frozen (a restore of its own backup too).
    when: (p, deps) => p.anonymize || p.neutralize || p.rebase || loadEnvById(deps.db, p.envId).tier !== "production",
    // Anonymizing commits in one transaction; rerun after a crash it would read the already
    // anonymized copy as "the source's PII" and prove nothing. Fail instead: the copy is discarded.
    resumable: false,
    async run(ctx) {
      const env = loadEnvById(ctx.deps.db, ctx.params.envId);
      const n = namesOf(ctx.deps, env, ctx.params.token);
      // A clone is anonymized while copied (clone-job.ts): its copy step chose rules and password.
      const copied = ctx.outputIfDone(copyOutput)?.anonymized;
      let rules: RulesChoice | undefined;
      if (ctx.params.anonymize && !copied) {
        rules = await anonymizeRulesFor(
          ctx.deps,
          loadEnvById(ctx.deps.db, ctx.params.sourceEnvId),
          ctx,
          ctx.params.rules,
        );
        ctx.log(`anonymization rules, lowest first: ${rules.from}`);
      }
      // One random password per copy: a constant one would open every copy made with it.
      const devPassword = copied
        ? ctx.deps.box.open(copied.devPasswordEnc)
        : ctx.params.anonymize
          ? newOdooPassword()
          : undefined;
      const anonymizedFrom = copied
        ? {
            source: envDbLogin(ctx.deps, loadEnvById(ctx.deps.db, ctx.params.sourceEnvId)),
            tables: copied.tables,
            piiExclude: copied.piiExclude,
          }
        : undefined;
      // The copy is already the target env's role's (restore/clone/import give it every object).
      const report = await sanitizeCopy(
        envDbLogin(ctx.deps, env, n.newDb),
        {
          anonymize: ctx.params.anonymize,
          neutralize: ctx.params.neutralize,
          rebase: ctx.params.rebase,
          baseUrl: envUrl(env, ctx.deps.config),
          freezeBaseUrl: env.tier !== "production",
          rules: rules?.rules,
          devPassword,
          anonymizedFrom,
          // The PII check's needles come from the source itself, as its own role.
          sourceLogin: ctx.params.anonymize
            ? envDbLogin(ctx.deps, loadEnvById(ctx.deps.db, ctx.params.sourceEnvId))
            : undefined,
          filestoreDir: n.stagedDir,
        },
        stepLogger(ctx, { db: n.newDb }),
      );
      if (report.anonymized && !copied) {
        // A restored copy arrived with the source's files: only what its rows still point at stays.
        const { uid, gid } = ctx.deps.config.odoo;
        const fs = await anonymizeFilestoreInPlace({
          target: envDbLogin(ctx.deps, env, n.newDb),
          dir: n.stagedDir,
          uid,
          gid,
        });
        ctx.log(
          `filestore ${n.stagedDir}: ${fs.replaced} attachment(s) replaced by placeholders, ${fs.removed} source file(s) removed, ${fs.written} placeholder file(s) written, ${fs.copied} module/asset file(s) kept`,
        );
      }
      if (report.anonymized)
        ctx.log(
          `anonymized; every user of ${env.slug} logs in with the copy's own random password, shown once to whoever made the copy`,
        );
      return {
        odooSeries: report.odooSeries,
        devPasswordEnc: copied?.devPasswordEnc ?? (devPassword === undefined ? null : ctx.deps.box.seal(devPassword)),
      };
    },
  });
}

function stopStep<P extends ReplaceParams>(): StepDef<P> {
  return {
    name: "stop",
    title: "Stopping Odoo",
    async run(ctx) {
      const name = serving(loadEnvById(ctx.deps.db, ctx.params.envId));
      if (name) await run(envHost(ctx.deps).docker.stop(name, 30));
    },
    async undo(ctx) {
      const env = loadEnvById(ctx.deps.db, ctx.params.envId);
      const name = serving(env);
      if (!name) return;
      await run(envHost(ctx.deps).docker.start(name));
      await healthy(ctx, env);
      ctx.log(`${env.slug} is serving its previous database again`);
    },
  };
}

function swapStep<P extends ReplaceParams>(): StepDef<P> {
  return {
    name: "swap",
    title: "Swapping in the new database and filestore",
    async run(ctx) {
      const env = loadEnvById(ctx.deps.db, ctx.params.envId);
      const n = namesOf(ctx.deps, env, ctx.params.token);
      const out = await envHost(ctx.deps).withAdmin((sql) => swapIn(sql, n));
      ctx.log(`database ${n.db} is now the copy (${out.database}); the previous one is ${n.oldDb}`);
    },
    async undo(ctx) {
      const env = loadEnvById(ctx.deps.db, ctx.params.envId);
      const n = namesOf(ctx.deps, env, ctx.params.token);
      const out = await envHost(ctx.deps).withAdmin((sql) => swapBack(sql, n));
      ctx.log(`swapped back: database ${out.database}, filestore ${out.filestore}`);
    },
  };
}

function odooNeutralizeStep<P extends ReplaceParams>(): StepDef<P> {
  return {
    name: "odoo-neutralize",
    title: "Running odoo neutralize",
    when: (p) => p.neutralize,
    async run(ctx) {
      // Neutralizing implies sanitizing: its step ran and read the series.
      const series = ctx.output(sanitizeOutput).odooSeries;
      if (!hasNeutralizeCommand(series)) {
        ctx.log(
          `Odoo ${series ?? "(unknown version)"} has no \`odoo neutralize\`: the SQL neutralization applied before the swap stands alone`,
        );
        return;
      }
      const env = loadEnvById(ctx.deps.db, ctx.params.envId);
      const r = envResources(env, ctx.deps);
      const host = envHost(ctx.deps);
      await run(host.docker.rm(r.initContainer, { force: true }), { nothrow: true });
      // After the swap: the env's own role, network and pg_hba entry reach the database by its name.
      await run(
        {
          ...host.docker.run({
            image: env.odooImage,
            name: r.initContainer,
            rm: true,
            labels: envLabels(env, "init"),
            cpus: Number(env.cpus),
            memoryMb: env.memoryMb,
            network: r.network,
            hostGateway: true,
            mounts: [
              { source: r.dataDir, target: CONTAINER_DATA },
              { source: r.confFile, target: CONTAINER_CONF, readonly: true },
            ],
            args: ["odoo", "neutralize", "-c", CONTAINER_CONF, "-d", env.dbName],
          }),
          timeoutMs: 30 * 60_000,
        },
        { onLine: (_s, line) => ctx.log(line), signal: ctx.signal },
      );
    },
  };
}

export function moduleMismatchPolicy(p: Pick<ReplaceParams, "onModuleMismatch">, tier: string): "apply" | "refuse" {
  return p.onModuleMismatch ?? (tier === "production" ? "refuse" : "apply");
}

/**
 * After the swap, before Odoo serves the copy: a database from another env, an older backup or
 * an import may have other module versions than the code the env serves, and Odoo does not
 * migrate by itself (every read of a changed model fails). Same plan as `db migrate`.
 */
function modulesStep<P extends ReplaceParams>(): StepDef<P> {
  return {
    name: "modules",
    title: "Matching the copy's modules to the serving image",
    async run(ctx) {
      const env = loadEnvById(ctx.deps.db, ctx.params.envId);
      const installed = await installedModules(envDbLogin(ctx.deps, env));
      if (installed.size === 0) return;
      const image = await servingImage(ctx.deps, env);
      const plan = planMigration(image, installed, await readImageModules(ctx.deps, image, seriesOf(installed, image)));
      if (plan.modules.length === 0) {
        ctx.log(`every installed module matches ${image}`);
        return;
      }
      const items = plan.update.map((u) => `${u.name} ${u.from ?? "-"} → ${u.to ?? "-"} (${u.reason})`).join(", ");
      if (moduleMismatchPolicy(ctx.params, env.tier) === "refuse") {
        throw new Conflict(
          `the copy's modules differ from what ${env.slug} serves (${image}): ${items}; the previous database is put back. ` +
            `Apply the update with the copy (API: onModuleMismatch=apply), or deploy a release that matches the copy first`,
        );
      }
      ctx.log(`updating ${plan.modules.length} module(s) of the copy to ${image}: ${items}`);
      const r = envResources(env, ctx.deps);
      const result = await runOdooOnce(ctx.deps, env, {
        image,
        name: `${r.initContainer}-copy-update`,
        network: r.network,
        confFile: r.confFile,
        dataDir: r.dataDir,
        dbName: env.dbName,
        args: ["-u", plan.modules.join(",")],
        log: (l) => ctx.log(l),
        signal: ctx.signal,
      });
      if (result.exitCode !== 0)
        throw new Error(
          `the copy's module update failed (exit ${result.exitCode}); the previous database is put back:\n${result.failure}`,
        );
    },
  };
}

function startStep<P extends ReplaceParams>(): StepDef<P> {
  return {
    name: "start",
    title: "Starting Odoo",
    async run(ctx) {
      const name = serving(loadEnvById(ctx.deps.db, ctx.params.envId));
      if (name) await run(envHost(ctx.deps).docker.start(name));
      else ctx.log("the environment was stopped: left stopped");
    },
    async undo(ctx) {
      // Before swapping back: Odoo must not hold the database being renamed.
      const name = serving(loadEnvById(ctx.deps.db, ctx.params.envId));
      if (name) await run(envHost(ctx.deps).docker.stop(name, 30), { nothrow: true });
    },
  };
}

function healthStep<P extends ReplaceParams>(): StepDef<P> {
  return {
    name: "health",
    title: "Waiting for Odoo to answer",
    async run(ctx) {
      const env = loadEnvById(ctx.deps.db, ctx.params.envId);
      if (!serving(env)) return;
      await healthy(ctx, env);
    },
  };
}

function finalizeStep<P extends ReplaceParams>(): StepDef<P> {
  return storingStep(finalizeOutput, {
    title: "Dropping the previous database",
    async run(ctx) {
      const env = loadEnvById(ctx.deps.db, ctx.params.envId);
      const n = namesOf(ctx.deps, env, ctx.params.token);
      if (ctx.params.keepOld) {
        ctx.log(`kept the previous database as ${n.oldDb} and its filestore in ${n.previousDir}`);
        return { kept: { db: n.oldDb, filestore: n.previousDir }, leftovers: [] };
      }
      // The env runs on the copy now: a cleanup failure is reported, never undone into a swap back.
      const leftovers: string[] = [];
      await envHost(ctx.deps)
        .withAdmin((sql) => dropDatabase(sql, n.oldDb))
        .catch((e: unknown) => leftovers.push(`database ${n.oldDb}: ${errorText(e)}`));
      await discardDir(n.previousDir).catch((e: unknown) => leftovers.push(`${n.previousDir}: ${errorText(e)}`));
      for (const l of leftovers) ctx.log(`warn: could not remove the previous ${l}; remove it by hand`);
      return { kept: null, leftovers };
    },
  });
}

/** Everything from stopping Odoo to dropping the previous database, in order. */
export function replaceSteps<P extends ReplaceParams>(): StepDef<P>[] {
  return [
    stopStep<P>(),
    swapStep<P>(),
    odooNeutralizeStep<P>(),
    modulesStep<P>(),
    startStep<P>(),
    healthStep<P>(),
    finalizeStep<P>(),
  ];
}

/**
 * For a job's `succeeded` hook: an anonymized copy now serves, so its random password becomes the
 * env's admin password in state (admins read it with `env get --show-admin-password`), and the
 * job's result hands it, sealed, to whoever made the copy.
 */
export function adoptCopyPassword<P extends ReplaceParams>(
  ctx: StepContext<P>,
  result: Record<string, unknown>,
): Record<string, unknown> {
  const sealed = ctx.outputIfDone(sanitizeOutput)?.devPasswordEnc;
  if (!sealed) return result;
  recordOdooAdminPassword(ctx.deps.db, ctx.params.envId, sealed);
  return withSealedSecrets({ ...result, adminLogin: ODOO_ADMIN_LOGIN }, { adminPassword: sealed });
}

/** What a restore's or a clone's result says of the replace: what was done to the copy, what was kept. */
export function replaceOutcome<P extends ReplaceParams>(ctx: StepContext<P>) {
  const p = ctx.params;
  const finalize = ctx.output(finalizeOutput);
  return {
    env: p.slug,
    from: p.sourceSlug,
    preBackupId: p.preBackupId,
    anonymized: p.anonymize,
    neutralized: p.neutralize,
    keptOld: finalize.kept?.db ?? null,
    leftovers: finalize.leftovers,
  };
}

/** Undo of a step that restored or copied into the new database: it and its staged files go. */
export async function undoPreparedCopy<P extends ReplaceParams>(ctx: StepContext<P>): Promise<void> {
  await cleanupRestore(preparedCopy(ctx.deps, ctx.params).cleanup);
}

/**
 * For a job's `failed` hook (after the undo pass): a pre-restore backup still running belongs to
 * the failed job; and if the swap could not be undone (the previous database is still aside),
 * the env says so instead of looking fine.
 */
export async function afterFailure(deps: Deps, p: ReplaceParams, kind: string, error: string): Promise<void> {
  if (p.preBackupId) failRunningBackup(deps.db, p.preBackupId, `${kind} failed before this backup completed: ${error}`);
  const env = loadEnvById(deps.db, p.envId);
  const n = namesOf(deps, env, p.token);
  const aside = await envHost(deps).withAdmin((sql) => databaseExists(sql, n.oldDb));
  if (
    !aside &&
    !(await stat(n.previousDir).then(
      () => true,
      () => false,
    ))
  )
    return;
  const reason = `${kind} failed and could not put the previous database back: it is kept as ${n.oldDb} (filestore ${n.previousDir}); see the job log`;
  noteStatusReason(deps.db, env.id, reason);
}
