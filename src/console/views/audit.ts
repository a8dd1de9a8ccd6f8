import { html } from "hono/html";
import type { ConsoleSession } from "../session";
import { badge, errorBox, type Html, page } from "./layout";

export interface AuditRowView {
  id: string;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  ip: string | null;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  since?: string;
  filter?: string;
}

const FILTERS = [
  ["", "everything"],
  ["failed_auth", "failed logins"],
  ["denied", "denied"],
  ["production", "production"],
] as const;

export function auditPage(s: ConsoleSession, rows: AuditRowView[], f: AuditFilter, error?: string): Html {
  const body = html`<h1>Audit log</h1>
<section class="card"><form class="inline" method="get" action="/audit">
<label>Actor <input name="actor" value="${f.actor ?? ""}" maxlength="64"></label>
<label>Action <input name="action" value="${f.action ?? ""}" maxlength="64" placeholder="env, auth.login"></label>
<label>Since <input name="since" value="${f.since ?? ""}" maxlength="40" placeholder="7d, 12h"></label>
<label>Show <select name="filter">${FILTERS.map(
    ([v, label]) => html`<option value="${v}" ${(f.filter ?? "") === v ? "selected" : ""}>${label}</option>`,
  )}</select></label>
<button type="submit">Filter</button>
</form></section>
${errorBox(error)}
${
  rows.length === 0
    ? html`<p class="empty">No audit row matches.</p>`
    : html`<section class="card"><div class="table-wrap" tabindex="0"><table>
<thead><tr><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Outcome</th><th scope="col" class="opt">Address</th></tr></thead>
<tbody>${rows.map(
        (r) =>
          html`<tr><td><time datetime="${r.at}">${r.at.replace("T", " ").slice(0, 19)}</time></td><td>${r.actor}</td><td>${r.action}</td><td>${r.target ?? "—"}</td><td>${badge(r.outcome)}</td><td class="opt">${r.ip ?? "—"}</td></tr>`,
      )}</tbody></table></div></section>`
}`;
  return page({ title: "Audit log", session: s, nav: "audit", body });
}
