import { html } from "hono/html";
import type { JobView } from "../../jobs/view";
import type { ConsoleSession } from "../session";
import { jobBlock, jobsTable } from "./job";
import { age, type Html, page } from "./layout";

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
<section class="card" aria-labelledby="h-log"><h2 id="h-log">Log</h2>${
      log ? html`<pre class="log" tabindex="0">${log}</pre>` : html`<p class="empty">No log output yet.</p>`
    }</section>`,
  });
}
