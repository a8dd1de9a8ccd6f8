import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { environments } from "../env/env.sql";
import type { GatePlan } from "../policy/gates";
import { createdAt, id } from "../state/columns";
import { DEPLOYMENT_KINDS, DEPLOYMENT_STATUSES } from "./vocabulary";

export const deployments = sqliteTable(
  "deployments",
  {
    id: id(),
    envId: text("env_id")
      .notNull()
      .references(() => environments.id),
    release: integer("release").notNull(),
    kind: text("kind", { enum: DEPLOYMENT_KINDS }).notNull().default("deploy"),
    commitSha: text("commit_sha"),
    branch: text("branch"),
    image: text("image"),
    status: text("status", { enum: DEPLOYMENT_STATUSES }).notNull().default("queued"),
    modulesUpdated: text("modules_updated", { mode: "json" }).$type<
      { name: string; from: string | null; to: string }[]
    >(),
    modulesInstalled: text("modules_installed", { mode: "json" }).$type<string[]>(),
    /** sha256 per addon of this release: the next deploy updates modules whose content changed. */
    moduleChecksums: text("module_checksums", { mode: "json" }).$type<Record<string, string>>(),
    /** The serving container of this release (kept stopped after a later switch, for rollback). */
    container: text("container"),
    /** For a rollback: the deployment whose image it went back to. */
    rollbackOf: text("rollback_of"),
    migrated: integer("migrated", { mode: "boolean" }).notNull().default(false),
    backupId: text("backup_id"),
    /** The health gates this deployment passes through, planned from the policy at its commit. */
    gates: text("gates", { mode: "json" }).$type<GatePlan>(),
    /** manual_approval: when waiting ends (kept in state so a restarted agent keeps the same deadline). */
    approvalDeadline: text("approval_deadline"),
    approvalDecision: text("approval_decision", { enum: ["approved", "rejected", "timed_out"] }),
    approvalBy: text("approval_by"),
    approvalReason: text("approval_reason"),
    approvalAt: text("approval_at"),
    jobId: text("job_id"),
    stepTimings: text("step_timings", { mode: "json" }).$type<Record<string, number>>(),
    error: text("error"),
    createdBy: text("created_by"),
    createdAt: createdAt(),
    finishedAt: text("finished_at"),
  },
  (t) => [index("deployments_env").on(t.envId, t.release)],
);
