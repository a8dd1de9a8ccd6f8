import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { environments } from "../env/env.sql";
import { createdAt, id } from "../state/columns";

export const backups = sqliteTable(
  "backups",
  {
    id: id(),
    envId: text("env_id")
      .notNull()
      .references(() => environments.id),
    kind: text("kind", { enum: ["manual", "scheduled", "pre_deploy", "pre_restore", "pre_destroy"] }).notNull(),
    status: text("status", { enum: ["running", "completed", "failed", "expired"] })
      .notNull()
      .default("running"),
    dbName: text("db_name").notNull(),
    sizeBytes: integer("size_bytes"),
    localPath: text("local_path"),
    s3Key: text("s3_key"),
    manifest: text("manifest", { mode: "json" }).$type<Record<string, unknown>>(),
    error: text("error"),
    createdAt: createdAt(),
    finishedAt: text("finished_at"),
    expiresAt: text("expires_at"),
  },
  (t) => [index("backups_env").on(t.envId, t.createdAt)],
);
