/** The page shell and the small pieces every page uses. hono/html escapes every interpolation. */
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { assetUrl } from "../assets";
import { CSRF_FIELD } from "../security";
import type { ConsoleSession } from "../session";
import { can } from "../session";
import { esc, fragment } from "./escape";

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** htmx without what a strict CSP forbids: no eval, no inline indicator <style>, no script tags in swaps. */
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  selfRequestsOnly: true,
});

type Nav = "envs" | "jobs" | "hosts" | "audit" | null;

export function page(opts: { title: string; session: ConsoleSession | null; nav?: Nav; body: Html }): Html {
  const s = opts.session;
  const link = (href: string, key: Nav, label: string) =>
    html`<a href="${href}" ${opts.nav === key ? html`aria-current="page"` : ""}>${label}</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content="${HTMX_CONFIG}">
<title>${opts.title} · odooops</title>
<link rel="icon" href="${assetUrl("favicon.svg")}" type="image/svg+xml">
<link rel="stylesheet" href="${assetUrl("console.css")}">
<script src="${assetUrl("htmx.min.js")}" defer></script>
<script src="${assetUrl("follow.js")}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<span class="brand">odooops</span>
${
  s
    ? html`<nav aria-label="Main">${link("/", "envs", "Environments")}${link("/jobs", "jobs", "Jobs")}${link("/hosts", "hosts", "Hosts")}${
        can(s.principal, "GET /audit/logs") ? link("/audit", "audit", "Audit log") : ""
      }</nav>
<span class="who">${s.principal.username} (${s.principal.role})</span>
<form method="post" action="/logout">${csrfField(s)}<button class="secondary" type="submit">Log out</button></form>`
    : ""
}
</header>
<main id="main">
${opts.body}
</main>
</body>
</html>`;
}

/** `…Markup`: the string form, for string-built rows (escape.ts); the other for page templates. */
export function csrfMarkup(s: ConsoleSession): string {
  return `<input type="hidden" name="${CSRF_FIELD}" value="${esc(s.csrf)}">`;
}

export function csrfField(s: ConsoleSession): Html {
  return fragment(csrfMarkup(s));
}

export function badgeMarkup(status: string): string {
  return `<span class="badge s-${status.replace(/[^a-z_]/g, "")}">${esc(status.replace(/_/g, " "))}</span>`;
}

export function badge(status: string): Html {
  return fragment(badgeMarkup(status));
}

export function errorBox(message: string | null | undefined): Html {
  return message ? html`<p class="error" role="alert">${message}</p>` : html``;
}

/** "3 min ago", "2 d ago": the unit a person scans for, and the exact time on hover. */
export function ageMarkup(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return `<span class="muted">—</span>`;
  return `<time datetime="${esc(iso)}" title="${esc(iso)}">${ago(iso, now)}</time>`;
}

export function age(iso: string | null | undefined, now = Date.now()): Html {
  return fragment(ageMarkup(iso, now));
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 172_800) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function until(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const h = Math.round((Date.parse(iso) - now) / 3_600_000);
  if (h <= 0) return "due now";
  return h < 48 ? `in ${h} h` : `in ${Math.round(h / 24)} d`;
}
