import { createRoute, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { jobStatuses } from "../../jobs/jobs.sql";
import { JobView } from "../../jobs/view";
import { openSecrets } from "../../jobs/secrets";
import { TERMINAL } from "../../jobs/status";
import { keepOpen } from "../conn";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { ErrorSchema } from "../errors";
import { json, pathParam } from "./openapi";

const idParam = pathParam("id", 64);
const ListQuery = z.object({
  status: z.enum(jobStatuses).optional(),
  target: z.string().max(128).optional(),
  kind: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});
const LogChunk = z
  .object({ text: z.string(), nextOffset: z.number(), status: z.enum(jobStatuses) })
  .openapi("JobLogChunk");

const list = createRoute({
  method: "get",
  path: "/jobs",
  tags: ["jobs"],
  summary: "Recent jobs, newest first",
  request: { query: ListQuery },
  responses: { 200: json(z.array(JobView), "jobs") },
});
const get = createRoute({
  method: "get",
  path: "/jobs/{id}",
  tags: ["jobs"],
  summary:
    "A job with its steps and what it waits for; its creator reads the secrets it produced (result.secrets) once",
  request: { params: idParam },
  responses: { 200: json(JobView, "job"), 404: json(ErrorSchema, "no such job") },
});
const logRoute = createRoute({
  method: "get",
  path: "/jobs/{id}/log",
  tags: ["jobs"],
  summary: "A job's log from a byte offset",
  request: { params: idParam, query: z.object({ offset: z.coerce.number().int().min(0).default(0) }) },
  responses: { 200: json(LogChunk, "log chunk"), 404: json(ErrorSchema, "no such job") },
});
const events = createRoute({
  method: "get",
  path: "/jobs/{id}/events",
  tags: ["jobs"],
  summary: "Server-sent events: a snapshot, then step/log/job events until the job ends",
  request: { params: idParam },
  responses: {
    200: {
      description: "text/event-stream of JobStreamEvent JSON",
      content: { "text/event-stream": { schema: z.string() } },
    },
    404: json(ErrorSchema, "no such job"),
  },
});
const cancel = createRoute({
  method: "post",
  path: "/jobs/{id}/cancel",
  tags: ["jobs"],
  summary: "Cancel a queued job, or ask a running one to stop and undo",
  request: { params: idParam },
  responses: { 200: json(JobView, "job"), 404: json(ErrorSchema, "no such job") },
});

/** SSE comment lines keep proxies and idle timers from closing a quiet stream. */
const PING_MS = 15_000;

export function jobRoutes(app: Api, deps: CoordinatorDeps) {
  const jobs = deps.jobs;
  app.openapi(list, (c) => c.json(jobs.queue.list(c.req.valid("query")), 200));
  app.openapi(get, (c) => {
    const { id } = c.req.valid("param");
    const view = jobs.queue.view(id);
    const sealed = jobs.queue.takeSecrets(id, c.get("principal").username);
    if (!sealed) return c.json(view, 200);
    return c.json({ ...view, result: { ...view.result, secrets: openSecrets(deps.box, sealed) } }, 200);
  });
  app.openapi(logRoute, (c) => {
    const { id } = c.req.valid("param");
    const job = jobs.queue.row(id);
    return c.json({ ...jobs.logs.read(id, c.req.valid("query").offset), status: job.status }, 200);
  });
  app.openapi(events, (c) => {
    const { id } = c.req.valid("param");
    jobs.queue.row(id);
    keepOpen(c);
    return streamSSE(c, async (stream) => {
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      const ping = setInterval(() => void stream.write(": ping\n\n"), PING_MS);
      try {
        for await (const ev of jobs.stream(id, abort.signal)) {
          await stream.writeSSE({ event: ev.type, data: JSON.stringify(ev) });
          if (ev.type === "job" && TERMINAL.has(ev.status)) break;
        }
      } finally {
        clearInterval(ping);
      }
    }) as never;
  });
  app.openapi(cancel, (c) => {
    const { id } = c.req.valid("param");
    const view = jobs.queue.cancel(id);
    deps.audit.record({ actor: c.get("principal").username, action: "job.cancel", target: id });
    return c.json(view, 200);
  });
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type JobRoutes = typeof list | typeof get | typeof logRoute | typeof events | typeof cancel;
