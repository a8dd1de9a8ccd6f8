import { html } from "hono/html";
import type { ConsoleSession } from "../session";
import { esc, fragment } from "./escape";
import { badgeMarkup, errorBox, type Html, page } from "./layout";

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

/** One audit row (a string: escape.ts says why). */
function auditRow(r: AuditRowView): string {
  return `<tr><td><time datetime="${esc(r.at)}">${esc(r.at.replace("T", " ").slice(0, 19))}</time></td><td>${esc(r.actor)}</td><td>${esc(r.action)}</td><td>${esc(r.target ?? "—")}</td><td>${badgeMarkup(r.outcome)}</td><td class="opt">${esc(r.ip ?? "—")}</td></tr>`;
}

export function auditPage(s: ConsoleSession, rows: AuditRowView[], f: AuditFilter, error?: string): Html {
  const body = html`<h1>Audit log</h1>
<section class="card"><form class="inline" method="get" action="/audit">
<label>Actor <input name="actor" value="${f.actor ?? ""}" maxlength="64"></label>
<label>Action <input name="action" value="${f.action ?? ""}" maxlength="64" placeholder="env, auth.login"></label>
<label>Since <input name="since" value="${f.since ?? ""}" maxlength="40" placeholder="7d, 12h"></label>
<label>Show <select name="filter">${fragment(
    FILTERS.map(
      ([v, label]) => `<option value="${v}" ${(f.filter ?? "") === v ? "selected" : ""}>${label}</option>`,
    ).join(""),
  )}</select></label>
<button type="submit">Filter</button>
</form></section>
${errorBox(error)}
${
  rows.length === 0
    ? html`<p class="empty">No audit row matches.</p>`
    : html`<section class="card"><div class="table-wrap" tabindex="0"><table>
<thead><tr><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Outcome</th><th scope="col" class="opt">Address</th></tr></thead>
<tbody>${fragment(rows.map(auditRow).join(""))}</tbody></table></div></section>`
}`;
  return page({ title: "Audit log", session: s, nav: "audit", body });
}
