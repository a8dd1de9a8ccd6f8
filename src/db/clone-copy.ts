/**
 * The copy a clone makes of its source, database and filestore, anonymized or not: one way for
 * the same-host clone (into the target's prepared names) and the cross-host clone's export
 * (into a scratch copy on the source's host, before anything leaves it).
 */
import { chown, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { Environment } from "../env/env.sql";
import { newOdooPassword } from "../env/odoo-admin";
import { envResources } from "../env/resources";
import { envDbLogin } from "../env/tenant-login";
import type { StepContext } from "../jobs/define";
import { stepLogger } from "../jobs/step-logger";
import { writeAnonymizedFilestore } from "./anonymize/filestore";
import { anonymizeRulesFor } from "./anonymize-rules";
import { cloneDatabase, copyFilestore } from "./backup";
import type { ReplaceNames } from "./replace";
import { adminPg } from "./replace-steps";
import type { OneRunRules } from "./schema";

export const CloneMethodParam = z.enum(["auto", "template", "stream"]);

interface CloneCopyParams {
  anonymize: boolean;
  method: z.infer<typeof CloneMethodParam>;
  rules?: z.infer<typeof OneRunRules>;
}

/**
 * Copies `source` into `n.newDb` (owned by `owner`'s role) and its filestore into `n.stagedDir`;
 * returns what the copy step records, the dev password sealed.
 */
export async function copyForClone(
  ctx: StepContext<CloneCopyParams>,
  source: Environment,
  owner: Environment,
  n: ReplaceNames,
) {
  const { deps, params: p } = ctx;
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
    owner: envDbLogin(deps, owner),
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
  const sourceFs = join(envResources(source, deps).dataDir, "filestore", source.dbName);
  const { uid, gid } = deps.config.odoo;
  if (anon) {
    const fs = await writeAnonymizedFilestore({
      target: envDbLogin(deps, owner, n.newDb),
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
    await chown(n.stagedDir, uid, gid);
  } else if (copied.skipped.length > 0) {
    ctx.log(
      `filestore: ${copied.skipped.length} symbolic link(s) or special file(s) not copied (only files and directories are): ${copied.skipped.slice(0, 5).join(", ")}`,
    );
  }
  ctx.log(`filestore ${sourceFs} → ${n.stagedDir}: ${filestore}`);
  return { method: db.method, reason: db.reason, filestore };
}
