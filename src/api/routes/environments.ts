import { createRoute, z } from "@hono/zod-openapi";
import { stream } from "hono/streaming";
import { startEnvCreate, startEnvDestroy, extendEnvironment, startEnvPower } from "../../env/actions";
import { startEnvRotateAdminPassword, adminPasswordView } from "../../env/admin-password";
import { envDetail } from "../../env/detail";
import { envHost } from "../../env/host";
import { findEnv } from "../../env/lookup";
import { remoteHostOf } from "../../fleet/routing";
import { listEnvironments } from "../../env/list";
import { CreateEnvRequest, EnvDetail, EnvListQuery, EnvSummary, ExtendEnvRequest } from "../../env/schema";
import { Conflict } from "../../errors";
import { startEnvMove } from "../../fleet/move";
import { MoveEnvRequest, MoveEnvResponse } from "../../fleet/schema";
import { StateCache } from "../../state/version";
import { run } from "../../exec/run";
import { JobView } from "../../jobs/view";
import { keepOpen } from "../conn";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { ErrorSchema } from "../errors";
import { requireForEnv, requireForTier } from "../permissions";
import { json, jsonBody, pathParam, queryFlag } from "./openapi";

const nameParam = pathParam("name", 200);

const CreatePlanView = z
  .object({
    name: z.string(),
    slug: z.string(),
    tier: z.string(),
    branch: z.string().nullable(),
    domain: z.string(),
    odooImage: z.string(),
    dbName: z.string(),
    modules: z.array(z.string()),
    demo: z.boolean(),
    resources: z.record(z.string(), z.number()),
    notes: z.array(z.string()),
    retryOf: z.string().nullable(),
    expiresAt: z.string().nullable(),
    /** The fleet host chosen, why, and the hosts passed over; null on a standalone host. */
    host: z.object({ id: z.string(), name: z.string(), why: z.string(), passedOver: z.array(z.string()) }).nullable(),
  })
  .openapi("CreatePlan");
const CreateEnvResponse = z
  .object({
    dryRun: z.boolean(),
    env: EnvSummary.nullable(),
    job: JobView.nullable(),
    plan: CreatePlanView.nullable(),
    steps: z.array(z.string()),
  })
  .openapi("CreateEnvironmentResponse");

const list = createRoute({
  method: "get",
  path: "/environments",
  tags: ["environments"],
  summary: "List environments",
  request: { query: EnvListQuery },
  responses: { 200: json(z.array(EnvSummary), "environments") },
});
const create = createRoute({
  method: "post",
  path: "/environments",
  tags: ["environments"],
  summary: "Create an environment (a job); dryRun returns the plan and changes nothing",
  request: { body: jsonBody(CreateEnvRequest) },
  responses: {
    202: json(CreateEnvResponse, "queued"),
    200: json(CreateEnvResponse, "dry run"),
    400: json(ErrorSchema, "invalid"),
    409: json(ErrorSchema, "conflict"),
  },
});
const get = createRoute({
  method: "get",
  path: "/environments/{name}",
  tags: ["environments"],
  summary: "One environment with resources and disk use",
  request: { params: nameParam },
  responses: { 200: json(EnvDetail, "environment"), 404: json(ErrorSchema, "no such environment") },
});
const destroy = createRoute({
  method: "delete",
  path: "/environments/{name}",
  tags: ["environments"],
  summary: "Destroy an environment (a job): containers, vhost, certificates, filestore, database and role",
  request: {
    params: nameParam,
    query: z.object({
      keepDatabase: queryFlag(),
      confirm: z.string().max(200).optional().openapi({ description: "the env's name: required for production" }),
      skipFinalBackup: queryFlag().openapi({ description: "production: drop the database without the final backup" }),
    }),
  },
  responses: {
    202: json(JobView, "queued"),
    400: json(ErrorSchema, "production without confirm, or no backup target for its final backup"),
    403: json(ErrorSchema, "production needs an admin"),
    404: json(ErrorSchema, "no such environment"),
  },
});
const extend = createRoute({
  method: "post",
  path: "/environments/{name}/extend",
  tags: ["environments"],
  summary: "Set the environment to expire ttl from now (never: no expiry)",
  request: { params: nameParam, body: jsonBody(ExtendEnvRequest) },
  responses: {
    200: json(EnvSummary, "environment with its new expiry"),
    400: json(ErrorSchema, "invalid TTL"),
    404: json(ErrorSchema, "no such environment"),
    409: json(ErrorSchema, "being destroyed"),
  },
});
const move = createRoute({
  method: "post",
  path: "/environments/{name}/move",
  tags: ["environments"],
  summary: "Move an environment to another host (plan with dryRun; admins)",
  request: { params: nameParam, body: jsonBody(MoveEnvRequest) },
  responses: {
    200: json(MoveEnvResponse, "the plan (dry run)"),
    202: json(MoveEnvResponse, "the plan and the queued move job"),
    400: json(ErrorSchema, "already on that host"),
    404: json(ErrorSchema, "no such environment"),
    409: json(
      ErrorSchema,
      "the host cannot take it (offline, draining, no capacity), no S3 target, or the env is on an agent host",
    ),
  },
});
const power = createRoute({
  method: "post",
  path: "/environments/{name}/{action}",
  tags: ["environments"],
  summary: "Start, stop or restart an environment's container (a job)",
  request: {
    params: nameParam.extend({
      action: z.enum(["start", "stop", "restart"]).openapi({ param: { name: "action", in: "path", required: true } }),
    }),
  },
  responses: {
    202: json(JobView, "queued"),
    404: json(ErrorSchema, "no such environment"),
    409: json(ErrorSchema, "not in a state for this"),
  },
});
const AdminPasswordView = z
  .object({ env: z.string(), login: z.string(), password: z.string() })
  .openapi("AdminPassword");
const adminPassword = createRoute({
  method: "get",
  path: "/environments/{name}/admin-password",
  tags: ["environments"],
  summary: "The Odoo admin login of the environment (admins only; audited)",
  request: { params: nameParam },
  responses: {
    200: json(AdminPasswordView, "login and password"),
    403: json(ErrorSchema, "not an admin"),
    404: json(ErrorSchema, "no such environment"),
    409: json(ErrorSchema, "no password stored"),
  },
});
const rotate = createRoute({
  method: "post",
  path: "/environments/{name}/admin-password",
  tags: ["environments"],
  summary:
    "Give the Odoo admin user a new random password (a job; admins only; the job's creator reads it once from the job's result)",
  request: { params: nameParam },
  responses: {
    202: json(JobView, "queued"),
    403: json(ErrorSchema, "not an admin"),
    404: json(ErrorSchema, "no such environment"),
    409: json(ErrorSchema, "no database yet"),
  },
});
const logs = createRoute({
  method: "get",
  path: "/environments/{name}/logs",
  tags: ["environments"],
  summary: "The Odoo container's output; follow=true streams until the client disconnects",
  request: {
    params: nameParam,
    query: z.object({
      tail: z.coerce.number().int().min(0).max(100_000).default(200),
      follow: queryFlag(),
    }),
  },
  responses: {
    200: { description: "text/plain log lines", content: { "text/plain": { schema: z.string() } } },
    404: json(ErrorSchema, "no such environment"),
  },
});

export function environmentRoutes(app: Api, deps: CoordinatorDeps) {
  // The fleet list is read far more often than it changes: serve the serialized body until state changes.
  const listCache = new StateCache<string>();
  app.openapi(list, (c) => {
    const query = c.req.valid("query");
    const body = listCache.get(deps.db, JSON.stringify(query), () =>
      JSON.stringify(listEnvironments(deps.db, deps.config, query)),
    );
    return c.body(body, 200, { "content-type": "application/json" }) as never;
  });
  app.openapi(create, (c) => {
    requireForTier(c.get("principal"), "create", c.req.valid("json").tier);
    const out = startEnvCreate(deps, c.req.valid("json"), c.get("principal").username);
    if (out.dryRun)
      return c.json(
        {
          dryRun: true,
          env: null,
          job: null,
          plan: { ...out.plan, resources: { ...out.plan.resources } },
          steps: out.steps,
        },
        200,
      );
    return c.json(
      { dryRun: false, env: out.env, job: out.job, plan: null, steps: out.job.steps.map((s) => s.title) },
      202,
    );
  });
  app.openapi(get, async (c) => c.json(await envDetail(deps, c.req.valid("param").name), 200));
  app.openapi(destroy, (c) => {
    const { name } = c.req.valid("param");
    requireForEnv(deps.db, c.get("principal"), "destroy", name);
    return c.json(startEnvDestroy(deps, name, c.req.valid("query"), c.get("principal").username), 202);
  });
  app.openapi(adminPassword, (c) =>
    c.json(adminPasswordView(deps, c.req.valid("param").name, c.get("principal")), 200),
  );
  // Before `power`: its `{action}` would claim /extend, /move (and /admin-password) and refuse it as an unknown action.
  app.openapi(rotate, (c) =>
    c.json(startEnvRotateAdminPassword(deps, c.req.valid("param").name, c.get("principal")), 202),
  );
  app.openapi(extend, (c) =>
    c.json(
      extendEnvironment(deps, c.req.valid("param").name, c.req.valid("json").ttl, c.get("principal").username),
      200,
    ),
  );
  app.openapi(move, (c) => {
    const out = startEnvMove(deps, c.req.valid("param").name, c.req.valid("json"), c.get("principal").username);
    return out.dryRun ? c.json(out, 200) : c.json(out, 202);
  });
  app.openapi(power, (c) => {
    const { name, action } = c.req.valid("param");
    return c.json(startEnvPower(deps, name, action, c.get("principal").username), 202);
  });
  app.openapi(logs, (c) => {
    const env = findEnv(deps.db, c.req.valid("param").name);
    if (!env.containerName) throw new Conflict(`environment ${env.slug} has no container yet (status ${env.status})`);
    const { tail, follow } = c.req.valid("query");
    const container = env.containerName;
    const remote = remoteHostOf(deps, env.hostId);
    c.header("content-type", "text/plain; charset=utf-8");
    if (follow) keepOpen(c);
    return stream(c, async (s) => {
      // The container runs on an agent: its own lease long-poll picks the request up (src/fleet/log-relay.ts).
      if (remote) return deps.fleet.logs.read(remote, { container, tail, follow }, s);
      const cmd = envHost(deps).docker.logs(container, { tail, follow });
      const abort = new AbortController();
      s.onAbort(() => abort.abort());
      await run(cmd, {
        onLine: (_src, line) => void s.write(`${line}\n`),
        signal: abort.signal,
        nothrow: true,
        discardOutput: true,
      });
    }) as never;
  });
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type EnvironmentRoutes =
  | typeof list
  | typeof create
  | typeof get
  | typeof destroy
  | typeof adminPassword
  | typeof rotate
  | typeof extend
  | typeof move
  | typeof power
  | typeof logs;
