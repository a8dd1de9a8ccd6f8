/**
 * `db export` as a job writing `<root>/exports/<id>.zip`, then downloaded (GET /exports/{id})
 * and deleted by the CLI. A job rather than a zip streamed in the HTTP response: it is locked on
 * the env (no restore or migration swaps the database mid-dump), logged and reported like every
 * other operation, and a finished file has a known length, so a broken download is detected and
 * can be retried instead of leaving a truncated zip that looks like an export.
 */
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { Paths } from "../config/paths";
import type { CoordinatorDeps } from "../deps";
import { findEnv, loadEnvById } from "../env/lookup";
import { envResources } from "../env/resources";
import { envDbLogin } from "../env/tenant-login";
import { Invalid, NotFound } from "../errors";
import { withTenant } from "../host/postgres";
import { defineJob, stepOutput, storingStep, onEnv, EnvJobTarget } from "../jobs/define";
import type { JobView } from "../jobs/view";
import { readDbFacts } from "./backup/facts";
import { odooDumpManifest, serverVersionNum, writeOdooZip } from "./odoo-zip";
import { requireCreated } from "../env/guards";

export const ExportJobParams = EnvJobTarget.extend({
  exportId: z.string().min(1),
});
export type ExportJobParams = z.infer<typeof ExportJobParams>;

const EXPORT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function exportsDir(paths: Pick<Paths, "dataDir">): string {
  return join(paths.dataDir, "exports");
}

export function exportFile(paths: Pick<Paths, "dataDir">, id: string): string {
  if (!EXPORT_ID.test(id)) throw new Invalid(`invalid export id ${JSON.stringify(id)}`);
  return join(exportsDir(paths), `${id}.zip`);
}

/** A finished export's file; NotFound while it is being written or after it was deleted. */
export async function finishedExport(
  paths: Pick<Paths, "dataDir">,
  id: string,
): Promise<{ path: string; size: number }> {
  const path = exportFile(paths, id);
  const s = await stat(path).catch(() => null);
  if (!s) throw new NotFound(`no finished export ${id} (see: odooops jobs show <job>)`);
  return { path, size: s.size };
}

/** `files` is unknown when a resumed step found the zip already written. */
const zipOutput = stepOutput("zip", z.object({ file: z.string(), bytes: z.number(), files: z.number().optional() }));

export const exportJob = defineJob<ExportJobParams>({
  kind: "db.export",
  params: ExportJobParams,
  ...onEnv,
  steps: [
    storingStep(zipOutput, {
      title: "Writing the database and filestore as an Odoo export zip",
      async run(ctx) {
        const { deps, params: p } = ctx;
        const out = exportFile(deps.paths, p.exportId);
        const done = await stat(out).catch(() => null);
        if (done) return { file: out, bytes: done.size };
        const env = loadEnvById(deps.db, p.envId);
        // The env's own role reads and dumps its database: nothing in it runs as the admin.
        const pg = envDbLogin(deps, env);
        const { facts, pgVersion } = await withTenant(pg, async (sql) => ({
          facts: await readDbFacts(sql),
          pgVersion: await serverVersionNum(sql),
        }));
        if (!facts.baseInstalled || !facts.odooSeries)
          throw new Invalid(`database ${env.dbName} has no installed base module: not an Odoo database to export`);
        const partial = `${out}.partial`;
        await mkdir(exportsDir(deps.paths), { recursive: true, mode: 0o700 });
        const { files } = await writeOdooZip({
          pg,
          dbName: env.dbName,
          filestoreDir: join(envResources(env, deps).dataDir, "filestore", env.dbName),
          manifest: odooDumpManifest(env.dbName, facts.odooSeries, pgVersion, facts.modules),
          out: partial,
          signal: ctx.signal,
        });
        await rename(partial, out);
        const bytes = (await stat(out)).size;
        ctx.log(
          `exported ${env.dbName} (${facts.modules.length} modules, ${files} filestore files) to ${out}: ${bytes} bytes`,
        );
        return { file: out, bytes, files };
      },
    }),
  ],
  async succeeded(ctx) {
    const zip = ctx.output(zipOutput);
    return {
      env: ctx.params.slug,
      exportId: ctx.params.exportId,
      bytes: zip.bytes,
      files: zip.files ?? null,
      download: `/exports/${ctx.params.exportId}`,
    };
  },
  async failed(ctx) {
    await rm(`${exportFile(ctx.deps.paths, ctx.params.exportId)}.partial`, { force: true });
  },
});

export function startDbExport(deps: CoordinatorDeps, envName: string, actor: string): JobView {
  const env = findEnv(deps.db, envName);
  requireCreated(env, "only an active or stopped environment can be exported");
  const job = deps.jobs.enqueue(exportJob, { envId: env.id, slug: env.slug, exportId: crypto.randomUUID() }, actor);
  deps.audit.record({ actor, action: "db.export", target: env.slug, details: { job: job.id } });
  return job;
}

export async function deleteExport(paths: Pick<Paths, "dataDir">, id: string): Promise<void> {
  await rm(exportFile(paths, id), { force: true });
}
