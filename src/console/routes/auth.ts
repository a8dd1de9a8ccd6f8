/** Log in and out: the API's own /auth/login and /auth/logout (throttle, audit, sessions table). */
import { getCookie } from "hono/cookie";
import { z } from "zod";
import { randomSecret } from "../../auth/secretbox";
import { ApiError, callApi } from "../api-call";
import type { ConsoleApp, ConsoleDeps } from "../context";
import { sessionOf } from "../context";
import { LOGIN_COOKIE, SESSION_COOKIE } from "../session";
import { loginPage } from "../views/login";

const LoginForm = z.object({ username: z.string().max(64), password: z.string().max(1024) });
const LOGIN_NONCE_SEC = 3600;

export function authRoutes(app: ConsoleApp, cd: ConsoleDeps) {
  app.get("/login", (c) => {
    if (c.get("session")) return c.redirect("/", 303);
    // Kept while it lives: a second tab (or the favicon's redirect) must not void the first form.
    const nonce = getCookie(c, LOGIN_COOKIE) || randomSecret(24);
    cd.cookies.set(c, LOGIN_COOKIE, nonce, LOGIN_NONCE_SEC);
    return c.html(loginPage(nonce));
  });

  app.post("/login", async (c) => {
    const form = await c.req.parseBody();
    const parsed = LoginForm.safeParse(form);
    const username = typeof form.username === "string" ? form.username : "";
    // A failed attempt gets a fresh nonce with its form; a good one ends the nonce.
    const retry = (error: string, status: 400 | 401 | 429) => {
      const nonce = randomSecret(24);
      cd.cookies.set(c, LOGIN_COOKIE, nonce, LOGIN_NONCE_SEC);
      return c.html(loginPage(nonce, error, username), status);
    };
    if (!parsed.success) return retry("username and password are required", 400);
    try {
      const session = await callApi<{ token: string; expiresAt: string }>(cd.api, c, null, "POST", "/auth/login", {
        username: parsed.data.username,
        password: parsed.data.password,
      });
      cd.cookies.clear(c, LOGIN_COOKIE);
      cd.cookies.set(c, SESSION_COOKIE, session.token, (Date.parse(session.expiresAt) - Date.now()) / 1000);
      return c.redirect("/", 303);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return retry(e.message, e.status === 429 ? 429 : 401);
    }
  });

  app.post("/logout", async (c) => {
    await callApi(cd.api, c, sessionOf(c).bearer, "POST", "/auth/logout").catch((e) => {
      // Already ended elsewhere (revoked, signing key rotated): the cookie goes all the same.
      if (!(e instanceof ApiError)) throw e;
    });
    cd.cookies.clear(c, SESSION_COOKIE);
    return c.redirect("/login", 303);
  });
}
