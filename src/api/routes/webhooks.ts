import { createRoute, z } from "@hono/zod-openapi";
import { receiveGithubWebhook, WEBHOOK_ACTOR } from "../../github/webhook";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { ErrorSchema } from "../errors";
import { json } from "./openapi";

const WebhookResult = z
  .object({
    result: z.enum(["pong", "duplicate", "ignored", "queued"]),
    delivery: z.string(),
    reason: z.string().optional(),
    env: z.string().optional(),
    deployment: z.string().optional(),
    job: z.string().optional(),
    /** The env's create job, when this delivery created the env (the deploy queues behind it). */
    createJob: z.string().optional(),
  })
  .openapi("GithubWebhookResult");

const github = createRoute({
  method: "post",
  path: "/webhooks/github",
  tags: ["webhooks"],
  summary:
    "GitHub webhook (ping, push, pull_request): authenticated by X-Hub-Signature-256 with the project's secret, not by token",
  security: [],
  request: {
    query: z.object({
      project: z
        .string()
        .regex(/^[a-z0-9][a-z0-9-]{0,62}$/)
        .optional()
        .openapi({ description: "the project, when its repository URL differs from the payload's" }),
    }),
  },
  responses: {
    200: json(WebhookResult, "ping answered, duplicate delivery, or nothing to do (reason)"),
    202: json(WebhookResult, "deployment, preview create or preview destroy queued"),
    400: json(ErrorSchema, "missing delivery/event header or body not JSON"),
    401: json(ErrorSchema, "missing or invalid signature, or no project for the repository"),
    413: json(ErrorSchema, "body too large"),
  },
});

export function webhookRoutes(app: Api, deps: CoordinatorDeps) {
  app.openapi(github, async (c) => {
    const out = await receiveGithubWebhook(deps, {
      event: c.req.header("x-github-event"),
      delivery: c.req.header("x-github-delivery"),
      signature: c.req.header("x-hub-signature-256"),
      body: new Uint8Array(await c.req.arrayBuffer()),
      project: c.req.valid("query").project,
      ip: c.get("clientIp"),
    });
    const { result, delivery, ...rest } = out.body;
    deps.audit.record({
      actor: WEBHOOK_ACTOR,
      action: "webhook.github",
      target: "env" in rest ? rest.env : null,
      details: { result, delivery, ...rest },
    });
    return out.status === 202 ? c.json(out.body, 202) : c.json(out.body, 200);
  });
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type WebhookRoutes = typeof github;
