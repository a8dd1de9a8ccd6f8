/**
 * The console's repeated fragments (table rows, list items, options) are plain strings built by
 * one function per row kind, not nested hono/html templates: a 100-row page made ≈ 800 template
 * objects per request, and their hot paths cost the daemon ≈ 3–4 MB of JIT code (bench/README.md).
 * Every value that reaches such a string goes through `esc`, text and quoted attribute values
 * alike; `fragment` hands the finished string to a page template without escaping it twice.
 */
import { raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

const ENTITIES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
const SPECIAL = /[&<>"']/;
const SPECIAL_ALL = /[&<>"']/g;

/** The same five characters and entities as hono/html: a string-built row reads as a template would. */
export function esc(value: string | number): string {
  const s = String(value);
  return SPECIAL.test(s) ? s.replace(SPECIAL_ALL, (ch) => ENTITIES[ch] ?? ch) : s;
}

/** Markup built from `esc`-ed parts, for a hono/html template (which would escape a plain string). */
export function fragment(markup: string): HtmlEscapedString {
  return raw(markup);
}
