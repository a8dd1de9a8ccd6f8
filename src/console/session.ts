/**
 * The console's login: the API's own session (a JWT naming a row of the sessions table) kept in
 * an HttpOnly, SameSite=Strict cookie, so logout and `auth sessions` revoke it on the server like
 * a CLI login. Secure whenever the browser reached us over HTTPS (directly or via a trusted proxy).
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { peerAddress } from "../api/conn";
import { roleAtLeast } from "../auth/roles";
import type { Principal } from "../auth/service";
import { ROUTE_RULES } from "../api/permissions";
import type { CoordinatorDeps } from "../deps";
import { ipMatcher } from "../config/ip-ranges";
import { csrfToken } from "./security";

export const SESSION_COOKIE = "odooops_session";
/** A pre-login nonce: the login form is CSRF-protected too (no forced login into our account). */
export const LOGIN_COOKIE = "odooops_login";

export interface ConsoleSession {
  principal: Principal;
  bearer: string;
  csrf: string;
}

export function overHttps(c: Context, trustedProxy: (ip: string) => boolean): boolean {
  if (new URL(c.req.url).protocol === "https:") return true;
  const peer = peerAddress(c);
  return peer !== null && trustedProxy(peer) && c.req.header("x-forwarded-proto") === "https";
}

export function sessionCookies(deps: Pick<CoordinatorDeps, "config">) {
  const trusted = ipMatcher(deps.config.api.trustedProxies);
  const attrs = (c: Context) => ({
    path: "/",
    httpOnly: true,
    sameSite: "Strict" as const,
    secure: overHttps(c, trusted),
  });
  return {
    set(c: Context, name: string, value: string, maxAgeSec: number) {
      setCookie(c, name, value, { ...attrs(c), maxAge: Math.max(0, Math.floor(maxAgeSec)) });
    },
    clear(c: Context, name: string) {
      deleteCookie(c, name, attrs(c));
    },
  };
}

/** The session the cookie names, or null (absent, expired, revoked, or forged). */
export async function readSession(c: Context, deps: Pick<CoordinatorDeps, "auth">): Promise<ConsoleSession | null> {
  const bearer = getCookie(c, SESSION_COOKIE);
  if (!bearer) return null;
  try {
    const principal = await deps.auth.authenticate(bearer);
    // Only login sessions: an API token pasted into a cookie is not a console login.
    if (principal.via !== "jwt") return null;
    return { principal, bearer, csrf: csrfToken(bearer) };
  } catch {
    return null;
  }
}

/** Whether the permission table lets this role call the route: buttons a role cannot use are not drawn. */
export function can(p: Principal, route: string): boolean {
  const need = ROUTE_RULES[route]?.[0] ?? "admin";
  return need === "public" || roleAtLeast(p.role, need);
}
