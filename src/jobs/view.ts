import { z } from "@hono/zod-openapi";
import { jobStatuses, stepStatuses } from "./jobs.sql";

/** The API's view of a job, shared by the routes (OpenAPI) and the CLI renderer. */
export const JobStepView = z
  .object({
    idx: z.number(),
    name: z.string(),
    title: z.string(),
    status: z.enum(stepStatuses),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    durationMs: z.number().nullable(),
    error: z.string().nullable(),
  })
  .openapi("JobStep");

export const JobRef = z
  .object({
    id: z.string(),
    kind: z.string(),
    target: z.string().nullable(),
    status: z.enum(jobStatuses),
    startedAt: z.string().nullable(),
  })
  .openapi("JobRef");

export const JobView = z
  .object({
    id: z.string(),
    kind: z.string(),
    target: z.string().nullable(),
    status: z.enum(jobStatuses),
    error: z.string().nullable(),
    result: z.record(z.string(), z.unknown()).nullable(),
    createdBy: z.string().nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    steps: z.array(JobStepView),
    /** The job holding this job's lock while it waits. */
    blockedBy: JobRef.nullable(),
    /** Queued for a host that is offline: "waiting for host H (offline since T; fails at T2)". */
    waitingForHost: z.string().nullable(),
  })
  .openapi("Job");

export type JobView = z.infer<typeof JobView>;
export type JobStepView = z.infer<typeof JobStepView>;

export type JobStreamEvent =
  | { type: "snapshot"; job: JobView }
  | { type: "step"; step: JobStepView }
  | { type: "log"; line: string }
  | { type: "job"; status: JobView["status"]; error: string | null };
