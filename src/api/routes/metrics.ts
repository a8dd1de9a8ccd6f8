import { createRoute, z } from "@hono/zod-openapi";
import { createMetricsRegistry } from "../../metrics/registry";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";

const route = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["system"],
  summary:
    "Prometheus metrics (text exposition format): backups, jobs, environments, deployments, certificates, the daemon process",
  responses: { 200: { description: "metrics", content: { "text/plain": { schema: z.string() } } } },
});

export function metricsRoutes(app: Api, deps: CoordinatorDeps) {
  let registry: ReturnType<typeof createMetricsRegistry> | null = null;
  app.openapi(route, async (c) => {
    registry ??= createMetricsRegistry(deps);
    const r = await registry;
    return c.text(await r.metrics(), 200, { "content-type": r.contentType });
  });
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type MetricsRoutes = typeof route;
