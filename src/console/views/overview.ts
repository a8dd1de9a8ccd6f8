import { html } from "hono/html";
import type { EnvRow, ProjectGroup } from "../overview";
import type { ConsoleSession } from "../session";
import { can } from "../session";
import { age, badge, type Html, page, until } from "./layout";

function certCell(days: number | null): Html {
  if (days === null) return html`<span class="muted">—</span>`;
  return html`<span class="${days < 15 ? "s-failed" : ""}">${days} d</span>`;
}

function envRow(e: EnvRow): Html {
  return html`<tr>
<td><a href="/envs/${encodeURIComponent(e.slug)}">${e.name}</a></td>
<td>${badge(e.status)}</td>
<td class="opt">${e.host ?? "—"}</td>
<td><a href="${e.url}" rel="noreferrer">${e.url.replace(/^https?:\/\//, "")}</a></td>
<td class="opt">${e.servingCommit ? html`<code>${e.servingCommit.slice(0, 10)}</code>` : "—"}</td>
<td class="opt">${e.lastDeploy ? html`${badge(e.lastDeploy.status)} ${age(e.lastDeploy.at)}` : html`<span class="muted">never</span>`}</td>
<td>${age(e.newestBackupAt)}</td>
<td class="opt">${certCell(e.certDaysLeft)}</td>
<td class="opt">${until(e.expiresAt)}</td>
</tr>`;
}

export function overviewPage(s: ConsoleSession, groups: ProjectGroup[], notice?: string): Html {
  const create = can(s.principal, "POST /environments");
  const body = html`<h1>Projects and environments</h1>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ""}
${create ? html`<p class="actions"><a class="button" href="/envs/new">Create environment</a></p>` : ""}
${
  groups.length === 0
    ? html`<p class="empty">No environment yet${create ? html` — <a href="/envs/new">create one</a>` : ""}.</p>`
    : groups.map(
        (g) => html`<section class="card" aria-labelledby="p-${g.project}">
<h2 id="p-${g.project}">${g.project}</h2>
${g.tiers.map(
  (t) => html`<h3>${t.tier.replace("_", " ")}</h3>
<div class="table-wrap" tabindex="0"><table>
<thead><tr><th scope="col">Environment</th><th scope="col">Status</th><th scope="col" class="opt">Host</th><th scope="col">URL</th><th scope="col" class="opt">Serving</th><th scope="col" class="opt">Last deploy</th><th scope="col">Newest backup</th><th scope="col" class="opt">Certificate</th><th scope="col" class="opt">Expires</th></tr></thead>
<tbody>${t.envs.map(envRow)}</tbody>
</table></div>`,
)}
</section>`,
      )
}`;
  return page({ title: "Environments", session: s, nav: "envs", body });
}
