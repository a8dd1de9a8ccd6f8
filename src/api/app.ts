/**
 * The HTTP API under /api/v1. Every route requires a bearer credential except the few in
 * PUBLIC_ROUTES; test/api/auth-coverage.test.ts enumerates all registered routes to prove it.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { auditMiddleware } from "./audit-middleware";
import type { ApiDeps, ApiEnv } from "./deps";
import { errorBody, onError, validationHook } from "./errors";
import { auditRoutes } from "./routes/audit";
import { authRoutes } from "./routes/auth";
import { backupRoutes } from "./routes/backups";
import { certificateRoutes } from "./routes/certificates";
import { deploymentRoutes } from "./routes/deployments";
import { environmentRoutes } from "./routes/environments";
import { healthRoutes } from "./routes/health";
import { jobRoutes } from "./routes/jobs";
import { metricsRoutes } from "./routes/metrics";
import { policyRoutes } from "./routes/policies";
import { projectRoutes } from "./routes/projects";
import { webhookRoutes } from "./routes/webhooks";

export const API_BASE = "/api/v1";

/** Routes reachable without a bearer token (each has its own guard or exposes nothing; the GitHub webhook checks its HMAC signature). */
const UPLOAD_PATH = new RegExp(`^${API_BASE}/environments/[^/]+/db/import$`);

export const PUBLIC_ROUTES = new Set([`GET ${API_BASE}/health`, `POST ${API_BASE}/auth/login`, `POST ${API_BASE}/webhooks/github`]);

export type RouteModule = (app: OpenAPIHono<ApiEnv>, deps: ApiDeps) => void;

export function createApp(deps: ApiDeps, extraRoutes: RouteModule[] = []) {
  const root = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const api = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });

  api.use("*", auditMiddleware(deps));
  const jsonLimit = bodyLimit({ maxSize: 1024 * 1024, onError: (c) => c.json(errorBody("payload_too_large", "request body over 1 MiB"), 413) });
  // Uploads stream to disk (db import); every other body is small JSON.
  api.use("*", (c, next) => (c.req.method === "POST" && UPLOAD_PATH.test(c.req.path) ? next() : jsonLimit(c, next)));
  api.use("*", async (c, next) => {
    if (PUBLIC_ROUTES.has(`${c.req.method} ${c.req.path}`)) return next();
    const header = c.req.header("authorization") ?? "";
    const bearer = header.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() : undefined;
    c.set("principal", await deps.auth.authenticate(bearer));
    return next();
  });

  for (const mount of [healthRoutes, authRoutes, auditRoutes, backupRoutes, certificateRoutes, deploymentRoutes, policyRoutes, projectRoutes, environmentRoutes, jobRoutes, metricsRoutes, webhookRoutes, ...extraRoutes]) mount(api, deps);

  api.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "odooops API", version: deps.version, description: "Odoo operations on servers you own." },
    security: [{ bearer: [] }],
  });
  api.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });

  api.notFound((c) => c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  api.onError(onError);
  root.route(API_BASE, api);
  root.notFound((c) => c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  root.onError(onError);
  return root;
}
