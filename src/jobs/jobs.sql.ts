import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { createdAt, id } from "../state/columns";

export const jobStatuses = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = (typeof jobStatuses)[number];

export const jobs = sqliteTable(
  "jobs",
  {
    id: id(),
    kind: text("kind").notNull(),
    /** Mutating jobs on the same key (an environment) run one at a time, in order. */
    lockKey: text("lock_key"),
    /** Human label of what the job acts on, e.g. the env name. */
    target: text("target"),
    status: text("status", { enum: jobStatuses }).notNull().default("queued"),
    params: text("params", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    result: text("result", { mode: "json" }).$type<Record<string, unknown>>(),
    error: text("error"),
    hostId: text("host_id"),
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: text("lease_expires_at"),
    attempts: integer("attempts").notNull().default(0),
    /** Set by `jobs cancel` on a running job; the agent sees it at its next heartbeat. */
    cancelRequestedAt: text("cancel_requested_at"),
    createdBy: text("created_by"),
    /** The binary that queued the job: named when a resumed job's stored step outputs no longer fit. */
    odooopsVersion: text("odooops_version"),
    createdAt: createdAt(),
    startedAt: text("started_at"),
    finishedAt: text("finished_at"),
  },
  (t) => [index("jobs_status").on(t.status, t.createdAt), index("jobs_lock").on(t.lockKey, t.status)],
);

export const stepStatuses = ["pending", "running", "done", "failed", "skipped", "undone"] as const;
export type StepStatus = (typeof stepStatuses)[number];

export const jobSteps = sqliteTable(
  "job_steps",
  {
    id: id(),
    jobId: text("job_id")
      .notNull()
      .references(() => jobs.id, { onDelete: "cascade" }),
    idx: integer("idx").notNull(),
    name: text("name").notNull(),
    title: text("title").notNull(),
    status: text("status", { enum: stepStatuses }).notNull().default("pending"),
    /** What the step produced (ids, ports …), read by later steps and by undo on failure. */
    output: text("output", { mode: "json" }).$type<Record<string, unknown>>(),
    error: text("error"),
    startedAt: text("started_at"),
    finishedAt: text("finished_at"),
    durationMs: integer("duration_ms"),
  },
  (t) => [uniqueIndex("job_steps_job_idx").on(t.jobId, t.idx)],
);
