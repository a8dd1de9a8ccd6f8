/** The audit log: read, verify, export. Admins only — it names users, addresses and every action. */
import { createRoute, z } from "@hono/zod-openapi";
import { exportLines, exportToS3 } from "../../audit/export";
import { AUDIT_FILTERS } from "../../audit/service";
import { parseSince } from "../../audit/since";
import { requireRole } from "../../auth/roles";
import type { Principal } from "../../auth/service";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { ErrorSchema } from "../errors";
import { json, jsonBody } from "./openapi";

const AuditRow = z
  .object({
    id: z.string(),
    seq: z.number().nullable(),
    at: z.string(),
    actor: z.string(),
    action: z.string(),
    target: z.string().nullable(),
    outcome: z.enum(["ok", "denied", "failed"]),
    ip: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
    prevHash: z.string().nullable(),
    hash: z.string().nullable(),
  })
  .openapi("AuditRow");

const Verify = z
  .object({
    ok: z.boolean(),
    rows: z.number().openapi({ description: "rows whose link and hash were checked (before the break, if any)" }),
    head: z.object({ seq: z.number(), hash: z.string() }).nullable().optional(),
    brokenAt: z.object({ id: z.string(), seq: z.number().nullable(), at: z.string() }).optional(),
    reason: z.string().optional(),
  })
  .openapi("AuditVerify");

const time = z
  .string()
  .max(40)
  .optional()
  .openapi({ description: "a duration back from now (30m, 12h, 7d, 2w) or an ISO date/time" });
const Range = z.object({ since: time, until: time });
const range = (q: { since?: string; until?: string }) => ({
  since: q.since ? parseSince(q.since) : undefined,
  until: q.until ? parseSince(q.until) : undefined,
});

const logs = createRoute({
  method: "get",
  path: "/audit/logs",
  tags: ["audit"],
  summary: "Audit rows, newest first (admin)",
  request: {
    query: Range.extend({
      actor: z.string().max(64).optional(),
      action: z
        .string()
        .max(64)
        .optional()
        .openapi({ description: "an action, or a prefix before a dot: env matches env.create, env.destroy …" }),
      filter: z.enum(AUDIT_FILTERS).optional(),
      limit: z.coerce.number().int().min(1).max(10_000).default(100),
    }),
  },
  responses: { 200: json(z.array(AuditRow), "rows"), 403: json(ErrorSchema, "not an admin") },
});
const verify = createRoute({
  method: "get",
  path: "/audit/verify",
  tags: ["audit"],
  summary: "Check the hash chain; names the first row where it breaks (admin)",
  responses: { 200: json(Verify, "ok, or the first broken row and why"), 403: json(ErrorSchema, "not an admin") },
});
const exportStream = createRoute({
  method: "get",
  path: "/audit/export",
  tags: ["audit"],
  summary: "Audit rows as JSON lines, oldest first, with their chain fields (admin)",
  request: { query: Range },
  responses: {
    200: { description: "application/x-ndjson", content: { "application/x-ndjson": { schema: z.string() } } },
    403: json(ErrorSchema, "not an admin"),
  },
});
const exportS3 = createRoute({
  method: "post",
  path: "/audit/export",
  tags: ["audit"],
  summary: "Upload audit rows as JSON lines to the backup bucket (admin)",
  request: { body: jsonBody(Range.extend({ to: z.literal("s3") })) },
  responses: {
    200: json(z.object({ bucket: z.string(), key: z.string(), rows: z.number(), bytes: z.number() }), "uploaded"),
    400: json(ErrorSchema, "no S3 target configured"),
    403: json(ErrorSchema, "not an admin"),
  },
});

export function auditRoutes(app: Api, deps: CoordinatorDeps) {
  const admin = (p: Principal) => requireRole(p, "admin", "read or export the audit log");
  app.openapi(logs, (c) => {
    admin(c.get("principal"));
    const q = c.req.valid("query");
    return c.json(deps.audit.list({ ...q, ...range(q) }), 200);
  });
  app.openapi(verify, (c) => {
    admin(c.get("principal"));
    return c.json(deps.audit.verify(), 200);
  });
  app.openapi(exportStream, (c) => {
    admin(c.get("principal"));
    const lines = exportLines(deps.audit, range(c.req.valid("query")));
    const body = new ReadableStream<string>({
      pull(controller) {
        const next = lines.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
    });
    return new Response(body.pipeThrough(new TextEncoderStream()), {
      status: 200,
      headers: { "content-type": "application/x-ndjson" },
    }) as never;
  });
  app.openapi(exportS3, async (c) => {
    admin(c.get("principal"));
    const body = c.req.valid("json");
    const out = await exportToS3(deps.audit, deps.config.backups.s3, range(body));
    deps.audit.record({
      actor: c.get("principal").username,
      action: "audit.export",
      target: `s3://${out.bucket}/${out.key}`,
      details: { rows: out.rows, since: body.since ?? null, until: body.until ?? null },
    });
    return c.json(out, 200);
  });
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type AuditRoutes = typeof logs | typeof verify | typeof exportStream | typeof exportS3;
