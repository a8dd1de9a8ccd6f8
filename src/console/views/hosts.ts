import { html } from "hono/html";
import type { z } from "zod";
import type { HostViewSchema } from "../../fleet/schema";
import type { ConsoleSession } from "../session";
import { can } from "../session";
import { esc, fragment } from "./escape";
import { ageMarkup, badgeMarkup, csrfMarkup, errorBox, type Html, page } from "./layout";

export type HostView = z.infer<typeof HostViewSchema>;

function drainForm(s: ConsoleSession, h: HostView): string {
  return `<form method="post" action="/hosts/${esc(encodeURIComponent(h.name))}/draining">${csrfMarkup(s)}<input type="hidden" name="draining" value="${h.draining ? "false" : "true"}"><button class="secondary" type="submit">${
    h.draining ? "Resume placements" : "Drain"
  }</button></form>`;
}

/** One host's row (a string: escape.ts says why); `drain`: the admin's form column. */
function hostRow(s: ConsoleSession, h: HostView, drain: boolean): string {
  const inv = h.inventory;
  const inventory = inv
    ? esc(`${inv.cores} cores, ${inv.memoryMb} MB, ${inv.diskFreeMb} MB free, load ${inv.load}`)
    : "—";
  return `<tr><td>${esc(h.name)}</td><td>${badgeMarkup(h.status)}${h.draining ? ' <span class="badge s-stopped">draining</span>' : ""}</td>
<td class="opt">${esc(h.role)}</td>
<td class="opt">${inventory}</td>
<td>${h.envs.length ? esc(h.envs.join(", ")) : '<span class="muted">none</span>'}</td>
<td class="opt">${ageMarkup(h.lastHeartbeatAt)}</td>
${drain ? `<td>${drainForm(s, h)}</td>` : ""}</tr>`;
}

export function hostsPage(s: ConsoleSession, hosts: HostView[], error?: string): Html {
  const drain = can(s.principal, "PUT /hosts/{name}/draining");
  const body = html`<h1>Hosts</h1>
${errorBox(error)}
${
  hosts.length === 0
    ? html`<p class="empty">No host yet — <code>odooops host add root@ADDRESS</code> adds one.</p>`
    : html`<section class="card"><div class="table-wrap" tabindex="0"><table>
<thead><tr><th scope="col">Host</th><th scope="col">Status</th><th scope="col" class="opt">Role</th><th scope="col" class="opt">Inventory</th><th scope="col">Envs</th><th scope="col" class="opt">Heartbeat</th>${
        drain ? html`<th scope="col">Placements</th>` : ""
      }</tr></thead>
<tbody>${fragment(hosts.map((h) => hostRow(s, h, drain)).join(""))}</tbody></table></div></section>`
}`;
  return page({ title: "Hosts", session: s, nav: "hosts", body });
}
