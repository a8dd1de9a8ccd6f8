import { html } from "hono/html";
import type { JobView } from "../../jobs/view";
import type { ConsoleSession } from "../session";
import { jobBlock, jobsTable } from "./job";
import { TERMINAL } from "../../jobs/status";
import { can } from "../session";
import { age, csrfField, type Html, page } from "./layout";
import { followBox } from "./live";

export function jobsPage(s: ConsoleSession, jobs: JobView[]): Html {
  return page({
    title: "Jobs",
    session: s,
    nav: "jobs",
    body: html`<h1>Jobs</h1><section class="card">${jobsTable(jobs)}</section>`,
  });
}

export function jobPage(s: ConsoleSession, job: JobView, log: string): Html {
  return page({
    title: `Job ${job.kind}`,
    session: s,
    nav: "jobs",
    body: html`<p><a href="/jobs">← Jobs</a></p>
<h1>Job ${job.kind}</h1>
<p class="muted">${job.id} · by ${job.createdBy ?? "—"} · created ${age(job.createdAt)}</p>
<section class="card" aria-labelledby="h-steps"><h2 id="h-steps">Steps</h2>${jobBlock(job)}</section>
${
  !TERMINAL.has(job.status) && can(s.principal, "POST /jobs/{id}/cancel")
    ? html`<form class="actions" method="post" action="/jobs/${encodeURIComponent(job.id)}/cancel">${csrfField(s)}<button class="secondary" type="submit">Cancel job</button></form>`
    : ""
}
<section class="card" aria-labelledby="h-log"><h2 id="h-log">Log</h2>${logBlock(job, log)}</section>`,
  });
}

/** The log's tail a page shows; the CLI (`jobs logs`) has the whole of it. */
export const LOG_TAIL_CHARS = 64 * 1024;

/** The log's tail; while the job runs it follows itself over SSE (the lines as the job writes them). */
function logBlock(job: JobView, log: string): Html {
  const live = !TERMINAL.has(job.status);
  return followBox(live ? `/jobs/${encodeURIComponent(job.id)}/log-stream` : null, log || "No log output yet.");
}
