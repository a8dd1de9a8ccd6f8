/** Jobs: the list, one job's steps and log, and the live fragment the job view polls. */
import type { JobView } from "../../jobs/view";
import { TERMINAL } from "../../jobs/status";
import { asUser, type ConsoleApp, type ConsoleDeps, sessionOf } from "../context";
import { jobBlock } from "../views/job";
import { jobPage, jobsPage, logBlock } from "../views/jobs";

/** The log tail a page shows; the CLI (`jobs logs`) has the whole of it. */
const LOG_TAIL_CHARS = 64 * 1024;

export function jobRoutes(app: ConsoleApp, cd: ConsoleDeps) {
  app.get("/jobs", async (c) =>
    c.html(jobsPage(sessionOf(c), await asUser<JobView[]>(cd, c, "GET", "/jobs?limit=50"))),
  );

  app.get("/jobs/:id", async (c) => {
    const id = encodeURIComponent(c.req.param("id"));
    const job = await asUser<JobView>(cd, c, "GET", `/jobs/${id}`);
    const log = await asUser<{ text: string }>(cd, c, "GET", `/jobs/${id}/log`);
    return c.html(jobPage(sessionOf(c), job, log.text.slice(-LOG_TAIL_CHARS)));
  });

  app.get("/jobs/:id/log-live", async (c) => {
    const id = encodeURIComponent(c.req.param("id"));
    const [job, log] = await Promise.all([
      asUser<JobView>(cd, c, "GET", `/jobs/${id}`),
      asUser<{ text: string }>(cd, c, "GET", `/jobs/${id}/log`),
    ]);
    return c.html(logBlock(job, log.text.slice(-LOG_TAIL_CHARS)));
  });

  app.post("/jobs/:id/cancel", async (c) => {
    const id = encodeURIComponent(c.req.param("id"));
    await asUser<JobView>(cd, c, "POST", `/jobs/${id}/cancel`);
    return c.redirect(`/jobs/${id}`, 303);
  });

  app.get("/jobs/:id/live", async (c) => {
    const job = await asUser<JobView>(cd, c, "GET", `/jobs/${encodeURIComponent(c.req.param("id"))}`);
    // The page around the job shows what it produced: reload it once when the job ends.
    if (c.req.query("refresh") === "1" && TERMINAL.has(job.status)) c.header("HX-Refresh", "true");
    return c.html(jobBlock(job, { refresh: c.req.query("refresh") === "1" }));
  });
}
