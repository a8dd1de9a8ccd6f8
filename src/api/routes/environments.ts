import { createRoute, z } from "@hono/zod-openapi";
import { listEnvironments } from "../../env/service";
import { EnvListQuery, EnvSummary } from "../../env/schema";
import type { Api, ApiDeps } from "../deps";
import { json } from "./openapi";

const list = createRoute({
  method: "get",
  path: "/environments",
  tags: ["environments"],
  summary: "List environments",
  request: { query: EnvListQuery },
  responses: { 200: json(z.array(EnvSummary), "environments") },
});

export function environmentRoutes(app: Api, deps: ApiDeps) {
  app.openapi(list, (c) => c.json(listEnvironments(deps.db, deps.config, c.req.valid("query")), 200));
}
