/** API shapes of backups (routes, OpenAPI and the CLI renderer). */
import { z } from "@hono/zod-openapi";
import { JobView } from "../jobs/view";

export const backupStatuses = ["running", "completed", "failed", "expired"] as const;

export const BackupView = z
  .object({
    id: z.string(),
    env: z.string(),
    /** With includeDestroyed only: when the env that made it was destroyed (null: it is live). */
    envDestroyedAt: z.string().nullable().optional(),
    kind: z.enum(["manual", "scheduled", "pre_deploy", "pre_restore", "pre_destroy"]),
    status: z.enum(backupStatuses),
    dbName: z.string(),
    /** Database dump + filestore archive, bytes; null until completed. */
    sizeBytes: z.number().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
    /**
     * When retention will delete it if nothing else changes; null while kept without a date
     * (the newest good backup, a deployment's rollback point, running) or once gone.
     */
    expiresAt: z.string().nullable(),
    /** Why retention keeps it (newest, protected, daily, weekly, monthly, last, …); [] when it will go. */
    keptFor: z.array(z.string()),
    /** Where verified copies live (null = no good copy there). */
    location: z.object({ local: z.string().nullable(), s3: z.string().nullable() }),
    error: z.string().nullable(),
  })
  .openapi("Backup");

export type BackupView = z.infer<typeof BackupView>;

export const BackupListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(20),
  /** Also the backups of destroyed envs that had this name (kept backups.keepDestroyedDays). */
  includeDestroyed: z.enum(["true", "false"]).optional(),
});

/** `POST /environments/{name}/db/restore`: `{name}` is the env whose database is replaced. */
export const RestoreRequest = z
  .object({
    /** A backup id, or "latest" (the newest completed backup of `from`). */
    backup: z.string().min(1).max(100),
    /** Whose backup (default: the target env itself). */
    from: z.string().min(1).max(200).optional(),
    /** Keep the replaced database (renamed `<db>_old_<token>`) instead of dropping it. */
    keepOld: z.boolean().default(false),
    /** Default: when the backup is production's and the target is not. */
    anonymize: z.boolean().optional(),
    /** Required to restore another env's backup into a production env. */
    forceProduction: z.boolean().default(false),
    /** The target env's name: required when it is production (a dry run needs none). */
    confirm: z.string().max(200).optional(),
    /** Return the plan (resolving "latest") and change nothing. */
    dryRun: z.boolean().default(false),
  })
  .strict()
  .openapi("RestoreRequest");
export type RestoreRequest = z.input<typeof RestoreRequest>;

/** An anonymization rules file sent with a request: its text, and the name it is reported under. */
export const OneRunRules = z
  .object({ text: z.string().max(1024 * 1024), file: z.string().min(1).max(300) })
  .strict()
  .openapi("OneRunRules");

/** `POST /environments/{name}/db/clone`: `{name}` is the target env (it must exist). */
export const CloneRequest = z
  .object({
    from: z.string().min(1).max(200),
    /** Default: when the source is production and the target is not. */
    anonymize: z.boolean().optional(),
    keepOld: z.boolean().default(false),
    /** auto: template copy when no session is on the source, else a streamed dump. */
    method: z.enum(["auto", "template", "stream"]).default("auto"),
    /** Required to clone into a production env. */
    forceProduction: z.boolean().default(false),
    /** The target env's name: required when it is production (a dry run needs none). */
    confirm: z.string().max(200).optional(),
    /** A rules file for this run only (`--rules FILE`), merged over every other layer; validated by the daemon. */
    rules: OneRunRules.optional(),
    /** Return the plan; nothing changes. */
    dryRun: z.boolean().default(false),
    /**
     * With dryRun, for an anonymized copy: also count on the source what each rule would change
     * (`plan.anonymization`; reads the source database, so only when asked: `db clone --dry-run`).
     */
    preview: z.boolean().default(false),
  })
  .strict()
  .openapi("CloneRequest");
export type CloneRequest = z.input<typeof CloneRequest>;

export const AnonymizationPreview = z
  .object({
    /** The rule layers, lowest first (as the job log would say). */
    sources: z.array(z.string()),
    tables: z.array(
      z.object({
        table: z.string(),
        rows: z.number(),
        /** Per column: the rule's kind and how many rows it would change. */
        columns: z.array(z.object({ column: z.string(), rule: z.string(), rows: z.number() })),
      }),
    ),
    /** "table" or "table.column" the rules name but the source does not have. */
    skipped: z.array(z.string()),
  })
  .openapi("AnonymizationPreview");
export type AnonymizationPreview = z.infer<typeof AnonymizationPreview>;

export const DbOperationPlan = z
  .object({
    operation: z.enum(["restore", "clone"]),
    /** What gets overwritten. */
    target: z.object({ slug: z.string(), tier: z.string(), status: z.string(), url: z.string(), dbName: z.string() }),
    source: z.object({ slug: z.string(), tier: z.string() }),
    /** Restore only: the backup, "latest" resolved. */
    backup: z
      .object({
        id: z.string(),
        kind: z.string(),
        createdAt: z.string(),
        sizeBytes: z.number().nullable(),
        /** `relay`: a local backup of another host, fetched through the coordinator (transfer.ts). */
        from: z.enum(["local", "s3", "relay"]),
      })
      .nullable(),
    /** Clone only. */
    method: z.enum(["auto", "template", "stream"]).nullable(),
    /** A `pre_restore` backup of the target is taken first (always for production). */
    preBackup: z.boolean(),
    anonymize: z.boolean(),
    neutralize: z.boolean(),
    keepOld: z.boolean(),
    steps: z.array(z.string()),
    /** Clone dry run of an anonymized copy: what each rule would change, counted on the source. */
    anonymization: AnonymizationPreview.optional(),
    /** A clone across hosts: where the source and target run, and the S3 prefix the copy travels through. */
    hosts: z
      .object({
        source: z.string(),
        target: z.string(),
        transfer: z.string(),
        /** `s3` (the shared target) or `relay` (through the coordinator): clone-transfer/plan.ts. */
        path: z.enum(["s3", "relay"]).optional(),
      })
      .optional(),
  })
  .openapi("DbOperationPlan");
export type DbOperationPlan = z.infer<typeof DbOperationPlan>;

export const DbOperationResponse = z
  .object({ dryRun: z.boolean(), plan: DbOperationPlan, job: JobView.nullable() })
  .openapi("DbOperationResponse");
export type DbOperationResponse = z.infer<typeof DbOperationResponse>;

/** A finished `db export` zip still on the host (not yet downloaded and deleted, nor expired). */
export const ExportView = z
  .object({
    id: z.string(),
    /** The env it was exported from (null when its job is no longer recorded). */
    env: z.string().nullable(),
    job: z.string().nullable(),
    createdBy: z.string().nullable(),
    bytes: z.number(),
    writtenAt: z.string(),
    /** When the `exports.sweep` schedule deletes it (`exports.expireHours` after writtenAt). */
    expiresAt: z.string(),
  })
  .openapi("Export");

export type ExportView = z.infer<typeof ExportView>;

export const AnonymizeRulesCheckRequest = z.object({
  /** The project's `.odooops/anonymize.yaml`. */
  text: z.string().max(1024 * 1024),
  /** Named in the problems (`file:line: key.path: …`). */
  file: z.string().min(1).max(300).default(".odooops/anonymize.yaml"),
});

export const AnonymizeRulesCheck = z
  .object({
    ok: z.boolean(),
    /** `file:line: key.path: problem`, one per problem; [] when valid. */
    problems: z.array(z.string()),
    /** The rules a copy would get: the shipped defaults with the file merged over them (null when invalid). */
    rules: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi("AnonymizeRulesCheck");

export type AnonymizeRulesCheck = z.infer<typeof AnonymizeRulesCheck>;

/** `GET /environments/{name}/db/anonymize-detect`: personal-looking columns no rule covers (names and counts only). */
export const AnonymizeDetectReport = z
  .object({
    /** The rule layers checked against, lowest first. */
    sources: z.array(z.string()),
    tablesScanned: z.number(),
    columnsScanned: z.number(),
    /** Rows sampled per table (the first ones) for the content signal. */
    sampleRows: z.number(),
    findings: z.array(
      z.object({ table: z.string(), column: z.string(), type: z.string(), reasons: z.array(z.string()) }),
    ),
  })
  .openapi("AnonymizeDetectReport");
export type AnonymizeDetectReport = z.infer<typeof AnonymizeDetectReport>;
