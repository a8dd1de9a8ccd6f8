/**
 * The HTTP API under /api/v1. Every route requires a bearer credential except the `public` ones
 * of src/api/permissions.ts, and the least role that table names; test/api/auth-coverage.test.ts
 * and test/api/role-matrix.test.ts enumerate all registered routes to prove it.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { Context } from "hono";
import { matchedRoutes } from "hono/route";
import { auditMiddleware } from "./audit-middleware";
import { requestStats } from "../metrics/http";
import type { ApiEnv } from "./deps";
import type { CoordinatorDeps } from "../deps";
import { errorBody, onError, validationHook } from "./errors";
import { enforceRule, isPublic, ROUTE_RULES, ruleKey } from "./permissions";
import { auditRoutes } from "./routes/audit";
import { drRoutes } from "./routes/dr";
import { reportRoutes } from "./routes/report";
import { userRoutes } from "./routes/users";
import { authRoutes } from "./routes/auth";
import { backupRoutes } from "./routes/backups";
import { certificateRoutes } from "./routes/certificates";
import { deploymentRoutes } from "./routes/deployments";
import { environmentRoutes } from "./routes/environments";
import { healthRoutes } from "./routes/health";
import { hostRoutes } from "./routes/hosts";
import { jobRoutes } from "./routes/jobs";
import { metricsRoutes } from "./routes/metrics";
import { policyRoutes } from "./routes/policies";
import { projectRoutes } from "./routes/projects";
import { webhookRoutes } from "./routes/webhooks";

export const API_BASE = "/api/v1";

const UPLOAD_PATH = new RegExp(`^${API_BASE}/environments/[^/]+/db/import$`);

/** Routes reachable without a bearer token, as `METHOD /api/v1/path` (from the permission table). */
export const PUBLIC_ROUTES = new Set(
  Object.keys(ROUTE_RULES)
    .filter(isPublic)
    .map((k) => k.replace(" ", ` ${API_BASE}`)),
);

/**
 * The permission key of the route that will answer: the first matched route that is not
 * middleware (`use` registers ALL), so `/environments/{name}/extend` is not mistaken for the
 * `{action}` route registered after it. Null when nothing matches (a 404).
 */
function answeringRoute(c: Context): string | null {
  const route = matchedRoutes(c).find((r) => r.method !== "ALL");
  return route ? ruleKey(c.req.method, route.path.slice(API_BASE.length)) : null;
}

export type RouteModule = (app: OpenAPIHono<ApiEnv>, deps: CoordinatorDeps) => void;

export function createApp(deps: CoordinatorDeps, extraRoutes: RouteModule[] = []) {
  const root = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const api = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });

  // First, so the latency counted is the whole answer (auth and audit included).
  const stats = requestStats(deps);
  api.use("*", async (c, next) => {
    const t0 = performance.now();
    await next();
    stats.record(c.req.method, c.res.status, (performance.now() - t0) / 1000);
  });
  api.use("*", auditMiddleware(deps));
  const jsonLimit = bodyLimit({
    maxSize: 1024 * 1024,
    onError: (c) => c.json(errorBody("payload_too_large", "request body over 1 MiB"), 413),
  });
  // Uploads stream to disk (db import); every other body is small JSON.
  api.use("*", (c, next) => (c.req.method === "POST" && UPLOAD_PATH.test(c.req.path) ? next() : jsonLimit(c, next)));
  api.use("*", async (c, next) => {
    const key = answeringRoute(c);
    if (key !== null && isPublic(key)) return next();
    const header = c.req.header("authorization") ?? "";
    const bearer = header.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() : undefined;
    const principal = await deps.auth.authenticate(bearer);
    c.set("principal", principal);
    if (key !== null) enforceRule(principal, key);
    return next();
  });

  for (const mount of [
    healthRoutes,
    authRoutes,
    userRoutes,
    auditRoutes,
    backupRoutes,
    certificateRoutes,
    deploymentRoutes,
    policyRoutes,
    projectRoutes,
    environmentRoutes,
    jobRoutes,
    metricsRoutes,
    webhookRoutes,
    drRoutes,
    reportRoutes,
    hostRoutes,
    ...extraRoutes,
  ])
    mount(api, deps);

  api.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "odooops API", version: deps.version, description: "Odoo operations on servers you own." },
    security: [{ bearer: [] }],
  });
  api.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });

  api.notFound((c) => c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  api.onError(onError);
  root.route(API_BASE, api);
  root.notFound((c) =>
    c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404),
  );
  root.onError(onError);
  return root;
}
