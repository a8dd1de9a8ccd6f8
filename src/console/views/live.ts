import { html } from "hono/html";
import type { ConsoleSession } from "../session";
import { type Html, page } from "./layout";

/** A log that follows itself (assets/follow.js over SSE from `src`), with a status line for people and tests. */
export function followBox(src: string | null, text: string): Html {
  return html`<div class="follow" ${src ? html`data-follow="${src}"` : ""}>
<p class="muted" role="status" data-follow-state>${src ? "Connecting…" : ""}</p>
<pre class="log" tabindex="0">${text}</pre></div>`;
}

export function envLogsPage(s: ConsoleSession, env: { slug: string; name: string }): Html {
  const path = `/envs/${encodeURIComponent(env.slug)}`;
  return page({
    title: `Logs of ${env.name}`,
    session: s,
    nav: "envs",
    body: html`<p><a href="${path}">← ${env.name}</a></p>
<h1>Logs of ${env.name}</h1>
<section class="card" aria-labelledby="h-logs"><h2 id="h-logs">Odoo output, live</h2>${followBox(`${path}/logs/stream`, "")}</section>`,
  });
}
