/** Disaster recovery of the control plane: state backups (admins only: a backup is the whole state). */
import { createRoute, z } from "@hono/zod-openapi";
import { requireRole } from "../../auth/roles";
import { startDbRotateCredentials } from "../../deploy/rotate-credentials";
import { parseSince } from "../../audit/since";
import { drReports, startDrTests } from "../../dr/dr-test";
import { DR_TEST_STEPS } from "../../dr/dr-tests.sql";
import { healthReport } from "../../dr/health-check";
import { JobView } from "../../jobs/view";
import { backupState, listStateBackups } from "../../dr/state-backup";
import { RebuildRequest, startRebuild } from "../../dr/rebuild";
import { RebuildPlanEntry } from "../../dr/rebuild-plan";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { ErrorSchema } from "../errors";
import { json, jsonBody, pathParam } from "./openapi";

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
        dr: FindingSchema.openapi({ description: "the env's last DR test: red when it failed" }),
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

const DrTestsStarted = z
  .object({
    started: z.array(
      z.object({
        env: z.string(),
        drTestId: z.string(),
        backupId: z.string(),
        host: z.string().openapi({ description: "the host the test runs on" }),
        hostReason: z
          .string()
          .nullable()
          .openapi({ description: "why it runs on the env's own host (no other host, no S3 copy, …)" }),
        job: JobView,
      }),
    ),
    skipped: z.array(z.object({ env: z.string(), reason: z.string() })).openapi({
      description: "production envs not tested (no env given), with why: e.g. no restorable backup",
    }),
  })
  .openapi("DrTestsStarted");
const DrTestReport = z
  .object({
    id: z.string(),
    env: z.string(),
    tier: z.string(),
    backupId: z.string(),
    jobId: z.string().nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    outcome: z.enum(["running", "passed", "failed"]),
    failedStep: z.enum(DR_TEST_STEPS).nullable(),
    reason: z.string().nullable(),
    rtoMs: z.number().nullable().openapi({ description: "restore start → the copy answered healthy (ms)" }),
    rpoSec: z.number().nullable().openapi({ description: "the backup's age when the test started (s)" }),
    host: z.string().nullable().openapi({ description: "the host it ran on (null: standalone, or a removed host)" }),
    hostReason: z
      .string()
      .nullable()
      .openapi({ description: "why it ran on the env's own host (null: on another host, or named by --host)" }),
  })
  .openapi("DrTestReport");
const startTests = createRoute({
  method: "post",
  path: "/dr/tests",
  tags: ["dr"],
  summary:
    "Restore an env's newest backup into a throwaway copy, verify, boot and health-check it, remove it (a job per env; admin)",
  request: {
    body: {
      content: {
        "application/json": {
          schema: z
            .object({
              env: z.string().min(1).max(200).optional().openapi({ description: "default: every production env" }),
              host: z
                .string()
                .min(1)
                .max(200)
                .optional()
                .openapi({ description: "run it on this host (with env; default: another host when one can)" }),
            })
            .strict(),
        },
      },
      required: true,
    },
  },
  responses: {
    202: json(DrTestsStarted, "queued"),
    400: json(ErrorSchema, "no restorable backup, or no production env"),
    403: json(ErrorSchema, "not an admin"),
    404: json(ErrorSchema, "no such environment or host"),
    409: json(ErrorSchema, "not active or stopped, or the named host cannot run it"),
  },
});
const listTests = createRoute({
  method: "get",
  path: "/dr/tests",
  tags: ["dr"],
  summary: "DR test results, newest first, with RTO and RPO",
  request: {
    query: z.object({
      env: z.string().min(1).max(200).optional(),
      since: z.string().max(40).default("30d").openapi({ description: "30d, 12h, 2w or a date (UTC)" }),
    }),
  },
  responses: {
    200: json(z.object({ tests: z.array(DrTestReport) }).openapi("DrTestReports"), "the results"),
    400: json(ErrorSchema, "invalid since"),
    404: json(ErrorSchema, "no such environment"),
  },
});
const RebuildOutcomeSchema = z
  .object({
    dryRun: z.boolean(),
    plan: z.array(RebuildPlanEntry).openapi({
      description: "per env, production first: the backup and image it uses, or why it is refused",
    }),
    jobs: z.array(z.object({ env: z.string(), job: JobView })),
  })
  .openapi("DrRebuildOutcome");
const rebuild = createRoute({
  method: "post",
  path: "/dr/rebuild",
  tags: ["dr"],
  summary:
    "Recreate environments from state after restore-state: database and filestore from the newest verified backup, image, container, vhost, certificate (a job per env; admin)",
  request: { body: jsonBody(RebuildRequest) },
  responses: {
    200: json(RebuildOutcomeSchema, "the plan, and the queued jobs unless dryRun"),
    400: json(ErrorSchema, "neither env nor all"),
    403: json(ErrorSchema, "not an admin"),
    404: json(ErrorSchema, "no such environment"),
  },
});

export function drRoutes(app: Api, deps: CoordinatorDeps) {
  app.openapi(startTests, (c) => {
    const principal = c.get("principal");
    requireRole(principal, "admin", "run a DR test");
    const body = c.req.valid("json");
    return c.json(startDrTests(deps, { env: body.env, host: body.host }, principal.username), 202);
  });
  app.openapi(listTests, (c) => {
    requireRole(c.get("principal"), "admin", "read DR test reports");
    const q = c.req.valid("query");
    const tests = drReports(deps, { since: parseSince(q.since), env: q.env });
    return c.json({ tests: tests.map(({ envId: _envId, hostId: _hostId, ...t }) => t) }, 200);
  });
  app.openapi(rebuild, async (c) => {
    const principal = c.get("principal");
    requireRole(principal, "admin", "rebuild environments from state");
    return c.json(await startRebuild(deps, c.req.valid("json"), principal.username), 200);
  });
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
export type DrRoutes =
  | typeof rotate
  | typeof check
  | typeof list
  | typeof create
  | typeof startTests
  | typeof listTests
  | typeof rebuild;
