import { html } from "hono/html";
import type { JobStepView, JobView } from "../../jobs/view";
import { TERMINAL } from "../../jobs/status";
import { esc, fragment } from "./escape";
import { ageMarkup, badge, badgeMarkup, duration, type Html } from "./layout";

/** One step of a job block (a string: escape.ts says why). */
function stepItem(st: JobStepView): string {
  const error = st.error ? ` <span class="s-failed">${esc(st.error)}</span>` : "";
  return `<li>${badgeMarkup(st.status)} ${esc(st.title)} <span class="muted">${esc(duration(st.durationMs))}</span>${error}</li>`;
}

function jobRow(j: JobView): string {
  return `<tr><td><a href="/jobs/${esc(encodeURIComponent(j.id))}">${esc(j.kind)}</a></td><td>${esc(j.target ?? "—")}</td><td>${badgeMarkup(j.status)}</td><td class="opt">${esc(j.createdBy ?? "—")}</td><td>${ageMarkup(j.createdAt)}</td></tr>`;
}

/**
 * A job's steps with their timings, as `odooops jobs show` prints them. While it runs, the block
 * polls its own fragment (htmx, every second) and replaces itself; a finished job stops polling.
 * `refresh`: the page around it shows the job's results (a new backup), so reload it once at the end.
 */
export function jobBlock(job: JobView, opts: { refresh?: boolean } = {}): Html {
  const live = !TERMINAL.has(job.status);
  const src = `/jobs/${encodeURIComponent(job.id)}/live${opts.refresh ? "?refresh=1" : ""}`;
  return html`<div class="job" id="job-${job.id}" ${
    live ? html`hx-get="${src}" hx-trigger="every 1s" hx-swap="outerHTML"` : ""
  } aria-live="polite">
<p><a href="/jobs/${encodeURIComponent(job.id)}">${job.kind}</a> ${job.target ? html`<code>${job.target}</code>` : ""} ${badge(job.status)}
${job.blockedBy ? html` <span class="muted">waiting for ${job.blockedBy.kind} ${job.blockedBy.id}</span>` : ""}</p>
<ol class="steps">${fragment(job.steps.map(stepItem).join(""))}</ol>
${job.error ? html`<p class="error">${job.error}</p>` : ""}
</div>`;
}

export function jobsTable(jobs: JobView[]): Html {
  if (jobs.length === 0) return html`<p class="empty">No job yet.</p>`;
  return html`<div class="table-wrap" tabindex="0"><table>
<thead><tr><th scope="col">Job</th><th scope="col">Target</th><th scope="col">Status</th><th scope="col" class="opt">By</th><th scope="col">Created</th></tr></thead>
<tbody>${fragment(jobs.map(jobRow).join(""))}</tbody></table></div>`;
}
