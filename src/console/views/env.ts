import { html } from "hono/html";
import type { BackupView } from "../../db/schema";
import type { DeploymentView } from "../../deploy/schema";
import type { EnvDetail, EnvSummary } from "../../env/schema";
import { TIERS } from "../../env/vocabulary";
import { TERMINAL } from "../../jobs/status";
import type { JobView } from "../../jobs/view";
import { formatBytes } from "../../bytes";
import type { ConsoleSession } from "../session";
import { can } from "../session";
import { rollbackGuard } from "../rollback-guard";
import { copyForm, restoreForm, rollbackForm } from "./actions";
import { jobBlock, jobsTable } from "./job";
import { esc, fragment } from "./escape";
import { ageMarkup, badge, badgeMarkup, csrfField, duration, errorBox, type Html, page, until } from "./layout";

export interface EnvPageData {
  env: EnvDetail;
  deployments: DeploymentView[];
  /** Successful releases other than the serving one, with a kept image: what "Roll back to this" offers. */
  candidates: DeploymentView[];
  backups: BackupView[];
  jobs: JobView[];
  /** Other environments: where "Copy to…" may go (production only for admins). */
  targets: EnvSummary[];
  live: JobView | null;
  error?: string;
}

const DEPLOY_HEAD =
  '<thead><tr><th scope="col">Release</th><th scope="col">Commit</th><th scope="col">Result</th><th scope="col" class="opt">By</th><th scope="col" class="opt">Steps</th><th scope="col">When</th><th scope="col"><span class="vh">Actions</span></th></tr></thead>';
const BACKUP_HEAD =
  '<thead><tr><th scope="col">Backup</th><th scope="col">Kind</th><th scope="col">Status</th><th scope="col">Size</th><th scope="col">Finished</th><th scope="col"><span class="vh">Actions</span></th></tr></thead>';

/** One deployment's row (a string: escape.ts says why); `actions`: its rollback form or "". */
function deploymentRow(d: DeploymentView, actions: string): string {
  const steps = Object.entries(d.stepTimings)
    .map(([k, ms]) => `${k} ${duration(ms)}`)
    .join(", ");
  return `<tr><td>${d.release}${d.current ? ' <span class="badge s-active">serving</span>' : ""}${d.kind === "rollback" ? " (rollback)" : ""}</td>
<td>${d.commit ? `<code>${esc(d.commit.slice(0, 10))}</code>` : "—"} ${esc(d.branch ?? "")}</td>
<td>${badgeMarkup(d.status)}${d.error ? ` <span class="s-failed">${esc(d.error)}</span>` : ""}</td>
<td class="opt">${esc(d.createdBy ?? "—")}</td>
<td class="opt">${esc(steps)}</td>
<td>${ageMarkup(d.createdAt)}</td><td>${actions}</td></tr>`;
}

/** `rollback`: the form for a row, or "" when that release is no rollback target (or the user may not). */
function deploymentsTable(list: DeploymentView[], rollback: (d: DeploymentView) => string): Html {
  if (list.length === 0) return html`<p class="empty">No deployment yet.</p>`;
  return fragment(`<div class="table-wrap" tabindex="0"><table>
${DEPLOY_HEAD}
<tbody>${list.map((d) => deploymentRow(d, rollback(d))).join("")}</tbody></table></div>`);
}

function backupRow(b: BackupView, actions: string): string {
  return `<tr><td><code>${esc(b.id)}</code></td><td>${esc(b.kind.replace("_", " "))}</td><td>${badgeMarkup(b.status)}</td><td>${esc(
    formatBytes(b.sizeBytes, "—"),
  )}</td><td>${ageMarkup(b.finishedAt ?? b.createdAt)}</td><td>${actions}</td></tr>`;
}

function backupsTable(list: BackupView[], canBackup: boolean, restore: (b: BackupView) => string): Html {
  if (list.length === 0) return html`<p class="empty">No backup yet${canBackup ? " — Back up now" : ""}.</p>`;
  return fragment(`<div class="table-wrap" tabindex="0"><table>
${BACKUP_HEAD}
<tbody>${list.map((b) => backupRow(b, restore(b))).join("")}</tbody></table></div>`);
}

export function envPage(s: ConsoleSession, d: EnvPageData): Html {
  const e = d.env;
  const canBackup = can(s.principal, "POST /environments/{name}/backups");
  const admin = s.principal.role === "admin";
  const path = `/envs/${encodeURIComponent(e.slug)}`;
  const canDeploy = can(s.principal, "POST /environments/{name}/deployments");
  const rollbackIds = new Set(
    can(s.principal, "POST /environments/{name}/rollback") ? d.candidates.map((c) => c.id) : [],
  );
  // Replacing production's data is admin work (PRODUCTION_ADMIN): nobody else is offered it.
  const canRestore = can(s.principal, "POST /environments/{name}/db/restore") && (e.tier !== "production" || admin);
  const canCopy = can(s.principal, "POST /environments/{name}/db/clone");
  const copyTargets = d.targets.filter((t) => t.tier !== "production" || admin);
  const body = html`<p><a href="/">← Environments</a></p>
<h1>${e.name} ${badge(e.status)}</h1>
${errorBox(d.error)}
<section class="card" aria-labelledby="h-about"><h2 id="h-about">Environment</h2>
<div class="table-wrap" tabindex="0"><table><tbody>
<tr><th scope="row">Logs</th><td><a href="${path}/logs">Follow the Odoo log live</a></td></tr>
<tr><th scope="row">URL</th><td><a href="${e.url}" rel="noreferrer">${e.url}</a></td></tr>
<tr><th scope="row">Tier</th><td>${e.tier.replace("_", " ")}</td></tr>
<tr><th scope="row">Branch</th><td>${e.branch ?? "—"}</td></tr>
<tr><th scope="row">Image</th><td><code>${e.odooImage}</code></td></tr>
<tr><th scope="row">Limits</th><td>${e.workers} workers, ${e.cpus} CPUs, ${e.memoryMb} MB</td></tr>
<tr><th scope="row">Disk</th><td>database ${formatBytes(e.disk.databaseBytes, "—")}, files ${formatBytes(e.disk.filestoreBytes, "—")}</td></tr>
<tr><th scope="row">Expires</th><td>${until(e.expiresAt)}</td></tr>
${e.statusReason ? html`<tr><th scope="row">Status</th><td>${e.statusReason}</td></tr>` : ""}
</tbody></table></div></section>
${d.live ? html`<section class="card" aria-labelledby="h-live"><h2 id="h-live">${TERMINAL.has(d.live.status) ? "Finished" : "Running now"}</h2>${jobBlock(d.live, { refresh: true })}</section>` : ""}
<section class="card" aria-labelledby="h-deploys"><h2 id="h-deploys">Deployments</h2>
${canDeploy ? html`<p class="actions"><a class="button" href="${path}/deploy">Deploy…</a></p>` : ""}
${deploymentsTable(d.deployments, (dep) =>
  rollbackIds.has(dep.id) ? rollbackForm(s, path, dep, rollbackGuard(d.deployments, dep)) : "",
)}</section>
<section class="card" aria-labelledby="h-backups"><h2 id="h-backups">Backups</h2>
${
  canBackup
    ? html`<form class="actions" method="post" action="${path}/backups">${csrfField(s)}<button type="submit">Back up now</button></form>`
    : ""
}
${backupsTable(d.backups, canBackup, (b) => (canRestore && b.status === "completed" ? restoreForm(s, path, e, b) : ""))}</section>
${
  canCopy
    ? html`<section class="card" aria-labelledby="h-copy"><h2 id="h-copy">Copy the database</h2>${copyForm(s, path, e, copyTargets)}</section>`
    : ""
}
<section class="card" aria-labelledby="h-jobs"><h2 id="h-jobs">Recent jobs</h2>${jobsTable(d.jobs)}</section>`;
  return page({ title: e.name, session: s, nav: "envs", body });
}

export interface CreateForm {
  name?: string;
  tier?: string;
  branch?: string;
  error?: string;
}

export function createPage(s: ConsoleSession, form: CreateForm = {}): Html {
  // Production envs are admin-only (PRODUCTION_ADMIN): a member is not offered the tier.
  const tiers = TIERS.filter((t) => t !== "production" || s.principal.role === "admin");
  const body = html`<p><a href="/">← Environments</a></p>
<h1>Create environment</h1>
${errorBox(form.error)}
<section class="card"><form class="stack" method="post" action="/envs">
${csrfField(s)}
<label>Name <input name="name" required maxlength="200" value="${form.name ?? ""}" autocomplete="off"></label>
<label>Tier <select name="tier">${fragment(
    tiers
      .map((t) => `<option value="${esc(t)}" ${form.tier === t ? "selected" : ""}>${esc(t.replace("_", " "))}</option>`)
      .join(""),
  )}</select></label>
<label>Branch (optional) <input name="branch" maxlength="200" value="${form.branch ?? ""}" autocomplete="off"></label>
<button type="submit">Create</button>
</form></section>`;
  return page({ title: "Create environment", session: s, nav: "envs", body });
}
