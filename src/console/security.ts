/**
 * The console's browser-facing guards: security headers on every response, and the CSRF token
 * every form carries. The token is an HMAC of the session's own bearer (the HttpOnly cookie), so
 * it is per session, dies with it, needs no table, and a page that shows it reveals nothing
 * about the cookie.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** No inline script or style anywhere: every page loads /assets/… only. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
};

export const CSRF_FIELD = "_csrf";
/** htmx sends it as a header on its own requests (hx-headers would be an inline attribute JSON). */
export const CSRF_HEADER = "x-csrf-token";

export function csrfToken(sessionBearer: string): string {
  return createHmac("sha256", sessionBearer).update("odooops-console-csrf-v1").digest("base64url");
}

/** Constant-time: the comparison time says nothing about how much of a guess was right. */
export function csrfValid(sessionBearer: string, presented: string | null | undefined): boolean {
  if (!presented) return false;
  const want = Buffer.from(csrfToken(sessionBearer));
  const got = Buffer.from(presented);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The login form's nonce is random, not derived: the field must equal the cookie (constant time). */
export function nonceMatches(cookie: string | undefined, presented: string | null | undefined): boolean {
  if (!cookie || !presented) return false;
  const a = Buffer.from(cookie);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}
