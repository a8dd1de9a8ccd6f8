import { errorText } from "../../errors";
import { createRoute, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";

export const HealthSchema = z
  .object({
    status: z.enum(["ok", "degraded"]),
    version: z.string(),
    uptimeSec: z.number(),
    role: z.string(),
    state: z.object({ ok: z.boolean(), error: z.string().optional() }),
  })
  .openapi("Health");

const route = createRoute({
  method: "get",
  path: "/health",
  tags: ["system"],
  summary: "Daemon health (no authentication)",
  responses: {
    200: { description: "healthy", content: { "application/json": { schema: HealthSchema } } },
    503: { description: "state database unusable", content: { "application/json": { schema: HealthSchema } } },
  },
});

export function healthRoutes(app: Api, deps: CoordinatorDeps) {
  app.openapi(route, (c) => {
    let state: { ok: boolean; error?: string } = { ok: true };
    try {
      deps.db.get(sql`select 1`);
    } catch (e) {
      state = { ok: false, error: errorText(e) };
    }
    const body = {
      status: state.ok ? ("ok" as const) : ("degraded" as const),
      version: deps.version,
      uptimeSec: Math.round((Date.now() - deps.startedAt) / 1000),
      role: deps.config.role,
      state,
    };
    return state.ok ? c.json(body, 200) : c.json(body, 503);
  });
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type HealthRoutes = typeof route;
