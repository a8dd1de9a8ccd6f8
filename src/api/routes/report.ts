import { createRoute, z } from "@hono/zod-openapi";
import { parseSince } from "../../audit/since";
import { serviceReport } from "../../report/report";
import type { CoordinatorDeps } from "../../deps";
import type { Api } from "../deps";
import { ErrorSchema } from "../errors";
import { json } from "./openapi";

const Pair = z.object({ succeeded: z.number(), failed: z.number() });
const ReportSchema = z
  .object({
    since: z.string(),
    until: z.string(),
    goals: z.object({ availability: z.number(), deploySuccess: z.number() }),
    envs: z.array(
      z.object({
        env: z.string(),
        tier: z.string(),
        status: z.string(),
        probes: z.number(),
        failures: z.number(),
        availability: z.number().nullable().openapi({ description: "percent of minute probes answered; null: none" }),
        met: z.boolean().nullable(),
        lastFailure: z.string().nullable(),
        deploys: Pair,
        backups: z.object({ completed: z.number(), failed: z.number() }),
      }),
    ),
    production: z.object({
      probes: z.number(),
      failures: z.number(),
      availability: z.number().nullable(),
      met: z.boolean().nullable(),
    }),
    deployments: Pair.extend({
      successRate: z.number().nullable(),
      met: z.boolean().nullable(),
      p95Seconds: z.number().nullable(),
    }),
    backups: z.object({ completed: z.number(), failed: z.number(), successRate: z.number().nullable() }),
  })
  .openapi("ServiceReport");

const report = createRoute({
  method: "get",
  path: "/report",
  tags: ["dr"],
  summary:
    "Availability per environment (minute probes through nginx), deployment success rate, p95 deploy time, backups",
  request: {
    query: z.object({
      since: z.string().max(40).default("30d").openapi({ description: "30d, 12h, 2w or a date (UTC)" }),
    }),
  },
  responses: { 200: json(ReportSchema, "the report"), 400: json(ErrorSchema, "invalid since") },
});

export function reportRoutes(app: Api, deps: CoordinatorDeps) {
  app.openapi(report, (c) => c.json(serviceReport(deps, parseSince(c.req.valid("query").since)), 200));
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type ReportRoutes = typeof report;
