/**
 * `db import` as a job, locked on the env: an uploaded Odoo export zip (dump.sql + filestore/ +
 * manifest.json) or a pg_dump custom-format .dump is loaded into a NEW database beside the live
 * one with its filestore staged beside the live filestore (the env keeps serving meanwhile),
 * verified (base installed; the manifest's modules when there is one), sanitized like another
 * env's data, then swapped in by the same stop → swap → start → health → drop-old steps as a
 * restore (replace-steps.ts). The upload is deleted when the job ends, whatever the outcome.
 */
import { availableParallelism } from "node:os";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { Paths } from "../config/paths";
import type { CoordinatorDeps } from "../deps";
import { findEnv } from "../env/lookup";
import { requireConfirm } from "../env/production-guard";
import { envDbLogin } from "../env/tenant-login";
import { Invalid } from "../errors";
import { run } from "../exec/run";
import { createDatabase } from "../host/postgres/ops";
import { pgAdmin, withTenant } from "../host/postgres";
import { defineJob, onEnv } from "../jobs/define";
import type { JobView } from "../jobs/view";
import { cleanupRestore, pgRestore } from "./backup";
import { chownRecursive } from "./backup/commands";
import { readDbFacts } from "./backup/facts";
import { backupTargets } from "./backup-job";
import { extractFilestoreTar } from "./filestore-tar";
import { DUMP_HAS_NO_FILESTORE } from "./import-notes";
import { readOdooZip, type OdooDumpManifest } from "./odoo-zip";
import { loadPlainDump } from "./plain-load";
import { newReplaceToken } from "./replace";
import { requireCreated } from "../env/guards";
import {
  adminPg,
  afterFailure,
  ensureFilestoreRoot,
  finalizeOutput,
  preBackupStep,
  preparedCopy,
  ReplaceParams,
  replaceSteps,
  sanitizeStep,
  undoPreparedCopy,
} from "./replace-steps";

export const ImportJobParams = ReplaceParams.extend({
  upload: z.string().min(1),
  format: z.enum(["zip", "dump"]),
  /** A tar of the filestore for a .dump (`db import --filestore`), checked when it was uploaded. */
  filestore: z.string().min(1).nullable().default(null),
});
export type ImportJobParams = z.infer<typeof ImportJobParams>;

export function importsDir(paths: Pick<Paths, "dataDir">): string {
  return join(paths.dataDir, "imports");
}

/** Differences between the loaded database's installed modules and the export's manifest. */
export function moduleProblems(
  manifest: OdooDumpManifest,
  installed: { name: string; version: string | null }[],
): string[] {
  const have = new Map(installed.map((m) => [m.name, m.version]));
  const problems: string[] = [];
  for (const [name, version] of Object.entries(manifest.modules)) {
    if (!have.has(name)) problems.push(`${name} is in the manifest but not installed`);
    else if (have.get(name) !== version)
      problems.push(`${name}: installed ${have.get(name) ?? "-"}, manifest says ${version ?? "-"}`);
  }
  for (const name of have.keys())
    if (!Object.hasOwn(manifest.modules, name)) problems.push(`${name} is installed but not in the manifest`);
  return problems;
}

async function removeUploads(p: ImportJobParams): Promise<void> {
  await rm(p.upload, { force: true });
  if (p.filestore !== null) await rm(p.filestore, { force: true });
}

/** Where an uploaded filestore tar waits for its import (`id` from saveFilestoreUpload). */
export function filestoreUploadPath(paths: Pick<Paths, "dataDir">, slug: string, id: string): string {
  if (!/^[0-9a-f]{32}$/.test(id)) throw new Invalid(`invalid filestore upload id ${JSON.stringify(id)}`);
  return join(importsDir(paths), `${slug}-filestore-${id}.tar`);
}

export const importJob = defineJob<ImportJobParams>({
  kind: "db.import",
  params: ImportJobParams,
  ...onEnv,
  steps: [
    preBackupStep<ImportJobParams>(),
    {
      name: "load",
      title: "Loading the upload into a new database and verifying it",
      async run(ctx) {
        const { deps, params: p } = ctx;
        const { env, n, cleanup } = preparedCopy(deps, p);
        // Leftovers of an interrupted attempt carry the same names: start clean.
        await cleanupRestore(cleanup);
        await ensureFilestoreRoot(deps, n);
        await mkdir(n.stagedDir, { recursive: true, mode: 0o755 });
        const pg = adminPg(deps);
        const admin = pgAdmin(pg);
        try {
          await createDatabase(admin, n.newDb, env.dbUser);
        } finally {
          await admin.close();
        }
        // The upload is tenant data: it is loaded logged in as the env's own role, never as admin.
        const asEnv = envDbLogin(deps, env, n.newDb);
        const MiB = 1024 * 1024;
        const limits = {
          maxEntries: deps.config.imports.maxZipEntries,
          maxUnpackedBytes: deps.config.imports.maxUnpackedMb * MiB,
        };
        let manifest: OdooDumpManifest | null = null;
        let files = 0;
        if (p.format === "zip") {
          await mkdir(deps.paths.workDir, { recursive: true, mode: 0o700 });
          const sqlFile = join(deps.paths.workDir, `import-${n.newDb}.sql`);
          try {
            ({ manifest, files } = await readOdooZip(p.upload, sqlFile, n.stagedDir, limits));
            ctx.log(
              `zip read: dump.sql and ${files} filestore files${manifest ? ` (exported from ${manifest.db_name}, Odoo ${manifest.version}, PostgreSQL ${manifest.pg_version})` : ", no manifest.json"}`,
            );
            await loadPlainDump(asEnv, n.newDb, sqlFile, ctx.signal);
          } finally {
            await rm(sqlFile, { force: true });
          }
        } else {
          if (p.filestore === null) ctx.log(`warn: ${DUMP_HAS_NO_FILESTORE}`);
          else {
            ({ files } = await extractFilestoreTar(p.filestore, n.stagedDir, limits));
            ctx.log(`filestore tar read: ${files} files`);
          }
          await run(pgRestore(asEnv, n.newDb, { jobs: availableParallelism(), file: p.upload }), {
            signal: ctx.signal,
            onLine: (_s, l) => ctx.log(l),
          });
        }
        await run(chownRecursive(n.stagedDir, deps.config.odoo.uid, deps.config.odoo.gid));
        const facts = await withTenant(envDbLogin(deps, env, n.newDb), readDbFacts);
        const problems = [
          ...(facts.baseInstalled ? [] : ["ir_module_module: base is not installed (not an Odoo database?)"]),
          ...(manifest ? moduleProblems(manifest, facts.modules) : []),
        ];
        if (problems.length > 0)
          throw new Invalid(`the imported database failed verification: ${problems.join("; ")}`, { problems });
        ctx.log(
          `loaded into ${n.newDb} and verified: ${facts.tableCount} tables, ${facts.modules.length} installed modules, Odoo ${facts.odooSeries ?? "?"}`,
        );
      },
      undo: undoPreparedCopy,
    },
    sanitizeStep<ImportJobParams>(),
    ...replaceSteps<ImportJobParams>(),
  ],
  async succeeded(ctx) {
    const p = ctx.params;
    await removeUploads(p);
    const finalize = ctx.output(finalizeOutput);
    return {
      env: p.slug,
      format: p.format,
      filestoreIncluded: p.format === "zip" || p.filestore !== null,
      preBackupId: p.preBackupId,
      neutralized: p.neutralize,
      keptOld: finalize.kept?.db ?? null,
      leftovers: finalize.leftovers,
    };
  },
  async failed(ctx, error, cancelled) {
    await removeUploads(ctx.params);
    await afterFailure(ctx.deps, ctx.params, "import", cancelled ? "cancelled" : error);
  },
});

export const ImportOptions = z.object({
  keepOld: z.boolean().default(false),
  /** Default: neutralized unless the target is production (an import is some other database's data). */
  neutralize: z.boolean().optional(),
  forceProduction: z.boolean().default(false),
  /** The env's name: required when it is production. */
  confirm: z.string().max(200).optional(),
});
export type ImportOptions = z.input<typeof ImportOptions>;

/** Checks the target and the options before anything is uploaded; the caller stores the upload, then enqueues. */
export function planImport(
  deps: CoordinatorDeps,
  envName: string,
  input: ImportOptions,
): Omit<ImportJobParams, "upload" | "format" | "filestore"> {
  const opts = ImportOptions.parse(input);
  const env = findEnv(deps.db, envName);
  requireCreated(env, "it must be active or stopped");
  const production = env.tier === "production";
  if (production && !opts.forceProduction) {
    throw new Invalid(
      `refusing to import into production environment ${env.slug}: pass --yes --force-production (API: forceProduction) if that is really what you want`,
    );
  }
  requireConfirm(env, opts.confirm, "import into");
  if (production) backupTargets(deps);
  const neutralize = opts.neutralize ?? !production;
  if (neutralize && production) throw new Invalid(`refusing to neutralize production environment ${env.slug}`);
  const token = newReplaceToken();
  return {
    envId: env.id,
    slug: env.slug,
    sourceEnvId: env.id,
    sourceSlug: "import",
    token,
    keepOld: opts.keepOld,
    anonymize: false,
    neutralize,
    rebase: true,
    preBackupId: production ? Bun.randomUUIDv7() : null,
  };
}

export function startDbImport(deps: CoordinatorDeps, params: ImportJobParams, actor: string): JobView {
  const job = deps.jobs.enqueue(importJob, params, actor);
  deps.audit.record({
    actor,
    action: "db.import",
    target: params.slug,
    details: { format: params.format, neutralize: params.neutralize, preBackup: params.preBackupId, job: job.id },
  });
  return job;
}
