/**
 * The web console, served by the coordinator's daemon at `/` beside the API at /api/v1. Pages are
 * rendered on the server; every read and action goes through the API in process (api-call.ts),
 * so the permission table, validation, domain functions and audit are the API's own. Imported
 * lazily by daemon/serve.ts only: the CLI never loads it.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie } from "hono/cookie";
import { html } from "hono/html";
import { API_BASE } from "../api/app";
import type { CoordinatorDeps } from "../deps";
import { Log } from "../log";
import { ApiError, type ApiFetch } from "./api-call";
import { acceptsGzip, assetFor, assetUrl, gzipped } from "./assets";
import { gzipPages } from "./gzip-pages";
import type { ConsoleApp, ConsoleEnv } from "./context";
import { auditRoutes } from "./routes/audit";
import { authRoutes } from "./routes/auth";
import { envRoutes } from "./routes/envs";
import { hostRoutes } from "./routes/hosts";
import { jobRoutes } from "./routes/jobs";
import { liveRoutes } from "./routes/live";
import { CSRF_FIELD, CSRF_HEADER, csrfValid, nonceMatches, SECURITY_HEADERS } from "./security";
import { LOGIN_COOKIE, readSession, sessionCookies } from "./session";
import { errorBox, page } from "./views/layout";

const log = Log.create("console");
const READS = new Set(["GET", "HEAD"]);
const YEAR_SEC = 31_536_000;

export function createConsoleApp(deps: CoordinatorDeps, api: ApiFetch): ConsoleApp {
  const app = new Hono<ConsoleEnv>();
  const cd = { deps, api, cookies: sessionCookies(deps) };

  // A page of 100 envs plus htmx is ~100 KB raw, ~25 KB gzipped: phones on a slow link notice.
  app.use("*", gzipPages());
  app.use("*", async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.header(k, v);
    if (!c.res.headers.has("cache-control")) c.header("cache-control", "no-store");
  });

  // Assets need no login: they are the same for everyone and carry no data.
  app.get("/assets/:hash/:name", (c) => {
    const asset = assetFor(c.req.param("hash"), c.req.param("name"));
    if (!asset) return c.text("no such asset", 404);
    c.header("cache-control", `public, max-age=${YEAR_SEC}, immutable`);
    c.header("vary", "accept-encoding");
    // Already gzipped (gzipPages() leaves a response with a content-encoding alone).
    if (acceptsGzip(c.req.header("accept-encoding")))
      return c.body(gzipped(asset), 200, { "content-type": asset.type, "content-encoding": "gzip" });
    return c.body(asset.body, 200, { "content-type": asset.type });
  });

  // Browsers ask for it whatever the page says; a redirect to /login would be noise.
  app.get("/favicon.ico", (c) => c.redirect(assetUrl("favicon.svg"), 301));

  app.use("*", bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.text("form too large", 413) }));

  app.use("*", async (c, next) => {
    const session = await readSession(c, deps);
    c.set("session", session);
    const isLogin = c.req.path === "/login";
    if (!session && !isLogin) {
      if (READS.has(c.req.method)) return c.redirect("/login", 303);
      return c.text("log in first", 401);
    }
    if (READS.has(c.req.method)) return next();
    // Every state change carries the token of the page it came from: a field, or htmx's header.
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const field = (form as Record<string, unknown>)[CSRF_FIELD];
    const presented = typeof field === "string" ? field : c.req.header(CSRF_HEADER);
    const ok = isLogin
      ? nonceMatches(getCookie(c, LOGIN_COOKIE), presented)
      : session !== null && csrfValid(session.bearer, presented);
    if (!ok) {
      deps.audit.deny(`console-csrf|${c.req.path}|${session?.principal.username ?? "anonymous"}`, {
        actor: session?.principal.username ?? "anonymous",
        action: "console.csrf",
        target: `${c.req.method} ${c.req.path}`,
        details: { reason: "missing or wrong CSRF token" },
      });
      return c.text("refused: missing or wrong CSRF token (reload the page and try again)", 403);
    }
    return next();
  });

  authRoutes(app, cd);
  envRoutes(app, cd);
  jobRoutes(app, cd);
  liveRoutes(app, cd);
  hostRoutes(app, cd);
  auditRoutes(app, cd);

  app.notFound((c) => {
    const body = html`<h1>Not found</h1>${errorBox(`no page ${c.req.path}`)}<p><a href="/">Environments</a></p>`;
    return c.html(page({ title: "Not found", session: c.get("session"), body }), 404);
  });
  app.onError((err, c) => {
    const known = err instanceof ApiError;
    if (!known) log.error("console error", { path: c.req.path, error: err.stack ?? String(err) });
    const message = known ? err.message : "internal error; see the daemon log";
    const body = html`<h1>${known && err.status === 404 ? "Not found" : "Something went wrong"}</h1>${errorBox(message)}<p><a href="/">Environments</a></p>`;
    return c.html(page({ title: "Error", session: c.get("session") ?? null, body }), known ? (err.status as 400) : 500);
  });
  return app;
}

/** One listener for both: /api/v1/… is the API, everything else the console. */
export function withConsole(deps: CoordinatorDeps, api: ApiFetch) {
  const ui = createConsoleApp(deps, api);
  return (req: Request, server?: unknown) => {
    const path = new URL(req.url).pathname;
    return path === API_BASE || path.startsWith(`${API_BASE}/`) ? api.fetch(req, server) : ui.fetch(req, server);
  };
}
