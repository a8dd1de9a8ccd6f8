import { html } from "hono/html";
import type { EnvRow, ProjectGroup } from "../overview";
import type { ConsoleSession } from "../session";
import { can } from "../session";
import { esc, fragment } from "./escape";
import { ageMarkup, badgeMarkup, type Html, page, until } from "./layout";

const TIER_HEAD =
  '<thead><tr><th scope="col">Environment</th><th scope="col">Status</th><th scope="col" class="opt">Host</th><th scope="col">URL</th><th scope="col" class="opt">Serving</th><th scope="col" class="opt">Last deploy</th><th scope="col">Newest backup</th><th scope="col" class="opt">Certificate</th><th scope="col" class="opt">Expires</th></tr></thead>';

function certCell(days: number | null): string {
  if (days === null) return `<span class="muted">—</span>`;
  return `<span class="${days < 15 ? "s-failed" : ""}">${days} d</span>`;
}

/** One env's row: strings, not templates (escape.ts says why); every value goes through esc. */
function envRow(e: EnvRow): string {
  const serving = e.servingCommit ? `<code>${esc(e.servingCommit.slice(0, 10))}</code>` : "—";
  const last = e.lastDeploy
    ? `${badgeMarkup(e.lastDeploy.status)} ${ageMarkup(e.lastDeploy.at)}`
    : `<span class="muted">never</span>`;
  return `<tr>
<td><a href="/envs/${esc(encodeURIComponent(e.slug))}">${esc(e.name)}</a></td>
<td>${badgeMarkup(e.status)}</td>
<td class="opt">${esc(e.host ?? "—")}${e.move ? `<br><span class="muted">${esc(e.move)}</span>` : ""}</td>
<td><a href="${esc(e.url)}" rel="noreferrer">${esc(e.url.replace(/^https?:\/\//, ""))}</a></td>
<td class="opt">${serving}</td>
<td class="opt">${last}</td>
<td>${ageMarkup(e.newestBackupAt)}</td>
<td class="opt">${certCell(e.certDaysLeft)}</td>
<td class="opt">${until(e.expiresAt)}</td>
</tr>`;
}

function tierTable(t: ProjectGroup["tiers"][number]): string {
  return `<h3>${esc(t.tier.replace("_", " "))}</h3>
<div class="table-wrap" tabindex="0"><table>
${TIER_HEAD}
<tbody>${t.envs.map(envRow).join("")}</tbody>
</table></div>`;
}

function projectSection(g: ProjectGroup): string {
  return `<section class="card" aria-labelledby="p-${esc(g.project)}">
<h2 id="p-${esc(g.project)}">${esc(g.project)}</h2>
${g.tiers.map(tierTable).join("")}
</section>`;
}

export function overviewPage(s: ConsoleSession, groups: ProjectGroup[], notice?: string): Html {
  const create = can(s.principal, "POST /environments");
  const body = html`<h1>Projects and environments</h1>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ""}
${create ? html`<p class="actions"><a class="button" href="/envs/new">Create environment</a></p>` : ""}
${
  groups.length === 0
    ? html`<p class="empty">No environment yet${create ? html` — <a href="/envs/new">create one</a>` : ""}.</p>`
    : fragment(groups.map(projectSection).join(""))
}`;
  return page({ title: "Environments", session: s, nav: "envs", body });
}
