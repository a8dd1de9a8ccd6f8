import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { environments } from "../env/env.sql";
import { createdAt, id } from "../state/columns";

/** The steps a DR test reports as where it failed (dr-test-job.ts). */
export const DR_TEST_STEPS = ["backup", "restore", "verify", "boot", "health", "cleanup"] as const;

/**
 * One `odooops dr test` of one env: which backup, when, how it ended and the measured RTO/RPO.
 * Written by src/dr/dr-test-records.ts only.
 */
export const drTests = sqliteTable(
  "dr_tests",
  {
    id: id(),
    envId: text("env_id")
      .notNull()
      .references(() => environments.id),
    backupId: text("backup_id").notNull(),
    jobId: text("job_id"),
    /** When it was asked for (queued). */
    createdAt: createdAt(),
    /** When the job started restoring; null while queued. */
    startedAt: text("started_at"),
    finishedAt: text("finished_at"),
    outcome: text("outcome", { enum: ["running", "passed", "failed"] })
      .notNull()
      .default("running"),
    failedStep: text("failed_step", { enum: DR_TEST_STEPS }),
    reason: text("reason"),
    /** Recovery time: restore start → the copy answered healthy, in ms. */
    rtoMs: integer("rto_ms"),
    /** Recovery point: the backup's age when the test started, in seconds. */
    rpoSec: integer("rpo_sec"),
    /** The host it ran on (null: this coordinator's own host in a standalone setup). */
    hostId: text("host_id"),
    /** Why it ran on the env's own host rather than another one (null: it ran elsewhere, or was told where). */
    hostReason: text("host_reason"),
  },
  (t) => [index("dr_tests_env").on(t.envId, t.createdAt)],
);
