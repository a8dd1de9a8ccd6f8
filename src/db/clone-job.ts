/**
 * `db clone` as a job, locked on the TARGET env (which must exist): the source's database copied
 * into a new database owned by the target's role (file-level template copy when nobody is
 * connected to the source, else a streamed dump; the step says which and why) and its filestore
 * copied beside the target's (a copy of its own: copy-on-write where the filesystem has it), the copy sanitized (anonymized and
 * neutralized by default from production to anything else, always given the target's URL and a
 * new identity), then the shared stop → swap → start → health → drop-old sequence.
 * An anonymized clone is anonymized while it is copied (db/anonymize/copy.ts: no source value of a
 * ruled column is ever written to the copy's disk) and gets a filestore of placeholders plus the
 * module/asset files; the sanitize step then only checks it (and neutralizes).
 */
import { chown, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { loadEnvById } from "../env/lookup";
import { newOdooPassword } from "../env/odoo-admin";
import { envResources } from "../env/resources";
import { envDbLogin } from "../env/tenant-login";
import { defineJob, storingStep, onEnv } from "../jobs/define";
import { stepLogger } from "../jobs/step-logger";
import { writeAnonymizedFilestore } from "./anonymize/filestore";
import { anonymizeRulesFor } from "./anonymize-rules";
import { cleanupRestore, cloneDatabase, copyFilestore } from "./backup";
import {
  adminPg,
  adoptCopyPassword,
  afterFailure,
  copyOutput,
  ensureFilestoreRoot,
  preBackupStep,
  preparedCopy,
  ReplaceParams,
  replaceOutcome,
  replaceSteps,
  sanitizeStep,
  undoPreparedCopy,
} from "./replace-steps";

export const CloneMethodParam = z.enum(["auto", "template", "stream"]);

export const CloneJobParams = ReplaceParams.extend({ method: CloneMethodParam.default("auto") });
export type CloneJobParams = z.infer<typeof CloneJobParams>;

export const cloneJob = defineJob<CloneJobParams>({
  kind: "db.clone",
  params: CloneJobParams,
  ...onEnv,
  steps: [
    preBackupStep<CloneJobParams>(),
    storingStep(copyOutput, {
      title: "Copying the source database and filestore",
      async run(ctx) {
        const { deps, params: p } = ctx;
        const { env, n, cleanup } = preparedCopy(deps, p);
        const source = loadEnvById(deps.db, p.sourceEnvId);
        // Leftovers of an interrupted attempt carry the same names: start clean.
        await cleanupRestore(cleanup);
        // One random password per copy: a constant one would open every copy made with it.
        const anon = p.anonymize
          ? { ...(await anonymizeRulesFor(deps, source, ctx, p.rules)), devPassword: newOdooPassword() }
          : null;
        if (anon) ctx.log(`anonymization rules, lowest first: ${anon.from}`);
        const db = await cloneDatabase({
          pg: adminPg(deps),
          sourceLogin: envDbLogin(deps, source),
          sourceDb: source.dbName,
          targetDb: n.newDb,
          owner: envDbLogin(deps, env),
          method: p.method,
          anonymize: anon
            ? { rules: anon.rules, devPassword: anon.devPassword, jobs: deps.config.anonymize.copyJobs || undefined }
            : undefined,
          log: stepLogger(ctx),
          signal: ctx.signal,
        });
        ctx.log(`database ${source.dbName} → ${n.newDb}: ${db.method} (${db.reason}) in ${db.seconds} s`);
        for (const t of db.anonymized?.tables ?? [])
          ctx.log(`${t.table}: ${t.rows} rows copied anonymized (${t.columns.join(", ")})`);
        if (db.anonymized?.skipped.length)
          ctx.log(`rules for what this database does not have (skipped): ${db.anonymized.skipped.join(", ")}`);
        await ensureFilestoreRoot(deps, n);
        const sourceFs = join(envResources(source, deps).dataDir, "filestore", source.dbName);
        if (anon) {
          const { uid, gid } = deps.config.odoo;
          const fs = await writeAnonymizedFilestore({
            target: envDbLogin(deps, env, n.newDb),
            sourceDir: sourceFs,
            targetDir: n.stagedDir,
            uid,
            gid,
          });
          ctx.log(
            `filestore ${n.stagedDir}: ${fs.replaced} attachment(s) replaced by placeholders, ${fs.written} placeholder file(s) written, ${fs.copied} module/asset file(s) copied from ${sourceFs}${fs.skipped.length ? `, ${fs.skipped.length} missing or malformed store_fname(s) not copied: ${fs.skipped.slice(0, 5).join(", ")}` : ""}`,
          );
          const anonymized = {
            rulesFrom: anon.from,
            piiExclude: anon.rules.piiCheck.exclude,
            tables: db.anonymized?.tables.map((t) => t.table) ?? [],
            devPasswordEnc: deps.box.seal(anon.devPassword),
          };
          return { method: db.method, reason: db.reason, filestore: "anonymized" as const, anonymized };
        }
        const copied = await copyFilestore(sourceFs, n.stagedDir);
        const filestore: "copy" | "empty" = copied ? "copy" : "empty";
        if (!copied) {
          await mkdir(n.stagedDir, { mode: 0o750 });
          await chown(n.stagedDir, deps.config.odoo.uid, deps.config.odoo.gid);
        } else if (copied.skipped.length > 0) {
          ctx.log(
            `filestore: ${copied.skipped.length} symbolic link(s) or special file(s) not copied (only files and directories are): ${copied.skipped.slice(0, 5).join(", ")}`,
          );
        }
        ctx.log(`filestore ${sourceFs} → ${n.stagedDir}: ${filestore}`);
        return { method: db.method, reason: db.reason, filestore };
      },
      undo: undoPreparedCopy,
    }),
    sanitizeStep<CloneJobParams>(),
    ...replaceSteps<CloneJobParams>(),
  ],
  async succeeded(ctx) {
    const copy = ctx.output(copyOutput);
    return adoptCopyPassword(ctx, {
      ...replaceOutcome(ctx),
      method: copy.method,
      reason: copy.reason,
      filestore: copy.filestore,
    });
  },
  async failed(ctx, error, cancelled) {
    await afterFailure(ctx.deps, ctx.params, "clone", cancelled ? "cancelled" : error);
  },
});
