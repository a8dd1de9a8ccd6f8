import { createRoute } from "@hono/zod-openapi";
import { effectivePolicyView } from "../../env/policy-view";
import { validatePolicy } from "../../policy/service";
import { EffectivePolicyView, PolicyShowQuery, PolicyValidation, ValidatePolicyRequest } from "../../policy/view";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { ErrorSchema } from "../errors";
import { json, jsonBody } from "./openapi";

const show = createRoute({
  method: "get",
  path: "/policy",
  tags: ["policy"],
  summary:
    "The effective policy of a project (the newest one a deploy read, else the server default); with env: its tier's gates, quota, TTL and storage",
  request: { query: PolicyShowQuery },
  responses: {
    200: json(EffectivePolicyView, "effective policy"),
    404: json(ErrorSchema, "no such project or environment"),
  },
});

const validate = createRoute({
  method: "post",
  path: "/policy/validate",
  tags: ["policy"],
  summary: "Validate a policies.yaml text: every problem as file:line: key: message",
  request: { body: jsonBody(ValidatePolicyRequest) },
  responses: { 200: json(PolicyValidation, "the verdict (ok false with the problems)") },
});

export function policyRoutes(app: Api, deps: CoordinatorDeps) {
  app.openapi(show, async (c) => c.json(await effectivePolicyView(deps, c.req.valid("query")), 200));
  app.openapi(validate, (c) => {
    const { text, file } = c.req.valid("json");
    return c.json(validatePolicy(text, file), 200);
  });
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type PolicyRoutes = typeof show | typeof validate;
