import { html } from "hono/html";
import type { z } from "zod";
import type { HostViewSchema } from "../../fleet/schema";
import type { ConsoleSession } from "../session";
import { can } from "../session";
import { age, badge, csrfField, errorBox, type Html, page } from "./layout";

export type HostView = z.infer<typeof HostViewSchema>;

function drainForm(s: ConsoleSession, h: HostView): Html {
  return html`<form method="post" action="/hosts/${encodeURIComponent(h.name)}/draining">${csrfField(s)}<input type="hidden" name="draining" value="${h.draining ? "false" : "true"}"><button class="secondary" type="submit">${
    h.draining ? "Resume placements" : "Drain"
  }</button></form>`;
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
<tbody>${hosts.map(
        (
          h,
        ) => html`<tr><td>${h.name}</td><td>${badge(h.status)}${h.draining ? html` <span class="badge s-stopped">draining</span>` : ""}</td>
<td class="opt">${h.role}</td>
<td class="opt">${h.inventory ? `${h.inventory.cores} cores, ${h.inventory.memoryMb} MB, ${h.inventory.diskFreeMb} MB free, load ${h.inventory.load}` : "—"}</td>
<td>${h.envs.length ? h.envs.join(", ") : html`<span class="muted">none</span>`}</td>
<td class="opt">${age(h.lastHeartbeatAt)}</td>
${drain ? html`<td>${drainForm(s, h)}</td>` : ""}</tr>`,
      )}</tbody></table></div></section>`
}`;
  return page({ title: "Hosts", session: s, nav: "hosts", body });
}
