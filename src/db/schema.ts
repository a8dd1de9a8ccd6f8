/** API shapes of backups (routes, OpenAPI and the CLI renderer). */
import { z } from "@hono/zod-openapi";

export const backupStatuses = ["running", "completed", "failed", "expired"] as const;

export const BackupView = z
  .object({
    id: z.string(),
    env: z.string(),
    kind: z.enum(["manual", "scheduled", "pre_deploy", "pre_restore"]),
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
});
