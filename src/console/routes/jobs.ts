/** Jobs: the list, one job's steps and log (live: routes/live.ts), and the steps fragment the job view polls. */
import type { JobView } from "../../jobs/view";
import { TERMINAL } from "../../jobs/status";
import { asUser, type ConsoleApp, type ConsoleDeps, sessionOf } from "../context";
import { jobBlock } from "../views/job";
import { jobPage, jobsPage, LOG_TAIL_CHARS } from "../views/jobs";

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
