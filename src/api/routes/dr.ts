/** Disaster recovery of the control plane: state backups (admins only: a backup is the whole state). */
import { createRoute, z } from "@hono/zod-openapi";
import { requireRole } from "../../auth/roles";
import { startDbRotateCredentials } from "../../db/rotate-credentials";
import { healthReport } from "../../dr/health-check";
import { JobView } from "../../jobs/view";
import { backupState, listStateBackups } from "../../dr/state-backup";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { ErrorSchema } from "../errors";
import { json, pathParam } from "./openapi";

const Kind = z.enum(["local", "s3"]);
const Listing = z
  .object({
    recoveryKey: z.string().nullable().openapi({
      description: "fingerprint of the recovery key new backups are encrypted for; null: none on this host",
    }),
    backups: z.array(z.object({ id: z.string(), createdAt: z.string(), size: z.number(), stored: z.array(Kind) })),
    errors: z.array(z.object({ kind: Kind, where: z.string(), error: z.string() })),
  })
  .openapi("StateBackups");
const Result = z
  .object({
    id: z.string(),
    createdAt: z.string(),
    size: z.number(),
    recipient: z.string(),
    stored: z.array(z.object({ kind: Kind, where: z.string() })),
    failed: z.array(z.object({ kind: Kind, where: z.string(), error: z.string() })),
    deleted: z.array(z.object({ kind: Kind, ids: z.array(z.string()) })),
  })
  .openapi("StateBackupResult");

const list = createRoute({
  method: "get",
  path: "/dr/state-backups",
  tags: ["dr"],
  summary: "State backups in the local backup dir and S3, newest first (admin)",
  responses: { 200: json(Listing, "backups"), 403: json(ErrorSchema, "not an admin") },
});
const create = createRoute({
  method: "post",
  path: "/dr/state-backups",
  tags: ["dr"],
  summary: "Back up the state now, encrypted for the recovery key (admin)",
  responses: {
    200: json(Result, "stored (see failed for targets that refused it)"),
    400: json(ErrorSchema, "no recovery key or no target"),
    403: json(ErrorSchema, "not an admin"),
  },
});

const LevelSchema = z.enum(["ok", "warn", "red"]);
const FindingSchema = z.object({ level: LevelSchema, text: z.string() });
const HealthReportSchema = z
  .object({
    level: LevelSchema.openapi({
      description: "the worst of everything below: red makes `odooops health check` exit 1",
    }),
    envs: z.array(
      z.object({
        env: z.string(),
        tier: z.string(),
        level: LevelSchema,
        http: FindingSchema,
        backup: FindingSchema,
        cert: FindingSchema,
        deploy: FindingSchema,
      }),
    ),
    disk: z.array(
      z.object({
        label: z.string(),
        path: z.string(),
        freeBytes: z.number(),
        totalBytes: z.number(),
        level: LevelSchema,
      }),
    ),
  })
  .openapi("HealthReport");
const check = createRoute({
  method: "get",
  path: "/health/check",
  tags: ["dr"],
  summary:
    "Every live environment's health through nginx, newest backup age, certificate, last deploy; the host's disk",
  request: { query: z.object({ env: z.string().min(1).max(200).optional() }) },
  responses: { 200: json(HealthReportSchema, "the verdicts"), 404: json(ErrorSchema, "no such environment") },
});

const rotate = createRoute({
  method: "post",
  path: "/environments/{name}/db/rotate-credentials",
  tags: ["dr"],
  summary: "A new password for the env's PostgreSQL role, odoo.conf rewritten, Odoo restarted on it (a job; admin)",
  request: {
    params: pathParam("name", 200),
  },
  responses: {
    202: json(JobView, "queued"),
    403: json(ErrorSchema, "not an admin"),
    404: json(ErrorSchema, "no such environment"),
    409: json(ErrorSchema, "not active or stopped"),
  },
});

export function drRoutes(app: Api, deps: CoordinatorDeps) {
  app.openapi(rotate, (c) => {
    const principal = c.get("principal");
    requireRole(principal, "admin", "rotate an environment's database credentials");
    return c.json(startDbRotateCredentials(deps, c.req.valid("param").name, principal.username), 202);
  });
  app.openapi(check, async (c) => c.json(await healthReport(deps, { env: c.req.valid("query").env }), 200));
  app.openapi(list, async (c) => {
    requireRole(c.get("principal"), "admin", "list state backups");
    return c.json(await listStateBackups(deps.config, deps.paths), 200);
  });
  app.openapi(create, async (c) => {
    const principal = c.get("principal");
    requireRole(principal, "admin", "back up the state");
    const r = await backupState(deps);
    deps.audit.record({
      actor: principal.username,
      action: "dr.state-backup",
      target: r.id,
      outcome: r.stored.length === 0 ? "failed" : "ok",
      details: { stored: r.stored.map((s) => s.where), failed: r.failed, recipient: r.recipient },
    });
    return c.json(r, 200);
  });
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type DrRoutes = typeof rotate | typeof check | typeof list | typeof create;
