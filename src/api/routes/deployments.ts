import { createRoute, z } from "@hono/zod-openapi";
import {
  decideApproval,
  deploymentView,
  listDeployments,
  listRollbackCandidates,
  startDeploy,
  startRollback,
} from "../../deploy/actions";
import {
  ApprovalRequest,
  DeployChoices,
  DeployOutcome,
  DeployRequest,
  DeploymentListQuery,
  DeploymentView,
  RollbackRequest,
} from "../../deploy/schema";
import { deployChoices } from "../../deploy/source";
import { findEnv } from "../../env/lookup";
import { JobView } from "../../jobs/view";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { ErrorSchema } from "../errors";
import { json, jsonBody, pathParam } from "./openapi";

const nameParam = pathParam("name", 200);
const idParam = pathParam("id", 64);
const Started = z.object({ deployment: DeploymentView, job: JobView }).openapi("DeploymentStarted");

const deploy = createRoute({
  method: "post",
  path: "/environments/{name}/deployments",
  tags: ["deployments"],
  summary: "Deploy a commit (a job); dryRun returns the full plan and changes nothing",
  request: { params: nameParam, body: jsonBody(DeployRequest) },
  responses: {
    200: json(DeployOutcome, "the plan (dry run)"),
    202: json(DeployOutcome, "queued"),
    400: json(ErrorSchema, "invalid request or no repository"),
    404: json(ErrorSchema, "no such environment, branch or commit"),
    409: json(ErrorSchema, "environment not active"),
  },
});
const list = createRoute({
  method: "get",
  path: "/environments/{name}/deployments",
  tags: ["deployments"],
  summary: "An environment's deployments and rollbacks, newest first",
  request: { params: nameParam, query: DeploymentListQuery },
  responses: { 200: json(z.array(DeploymentView), "deployments"), 404: json(ErrorSchema, "no such environment") },
});
const get = createRoute({
  method: "get",
  path: "/deployments/{id}",
  tags: ["deployments"],
  summary: "One deployment: commit, image, modules, backup, step timings, error",
  request: { params: idParam },
  responses: { 200: json(DeploymentView, "deployment"), 404: json(ErrorSchema, "no such deployment") },
});
const rollback = createRoute({
  method: "post",
  path: "/environments/{name}/rollback",
  tags: ["deployments"],
  summary:
    "Go back to an earlier release's kept image (a job); refuses to cross a migration without restoreDb or keepDb",
  request: { params: nameParam, body: jsonBody(RollbackRequest) },
  responses: {
    202: json(Started, "queued"),
    404: json(ErrorSchema, "nothing to roll back to"),
    409: json(ErrorSchema, "a migration is in the way"),
  },
});
const candidates = createRoute({
  method: "get",
  path: "/environments/{name}/rollback",
  tags: ["deployments"],
  summary: "Rollback candidates: successful releases other than the serving one, newest first",
  request: { params: nameParam },
  responses: { 200: json(z.array(DeploymentView), "candidates"), 404: json(ErrorSchema, "no such environment") },
});
const choices = createRoute({
  method: "get",
  path: "/environments/{name}/commits",
  tags: ["deployments"],
  summary: "Branches and the newest commits of the env's branch, from the project's git mirror (fetched first)",
  request: { params: nameParam },
  responses: {
    200: json(DeployChoices, "what a deploy can pick"),
    400: json(ErrorSchema, "the project has no repository"),
    404: json(ErrorSchema, "no such environment"),
  },
});
/** A picker shows a screenful; the CLI's --sha/--branch reach anything else. */
const CHOICES = 30;

const decision = (verb: "approve" | "reject") =>
  createRoute({
    method: "post",
    path: `/deployments/{id}/${verb}`,
    tags: ["deployments"],
    summary:
      verb === "approve"
        ? "Let a deployment awaiting manual approval continue (admins)"
        : "Stop a deployment awaiting manual approval; it ends rejected (admins)",
    request: { params: idParam, body: jsonBody(ApprovalRequest) },
    responses: {
      200: json(DeploymentView, "decision recorded; the job picks it up within a second"),
      403: json(ErrorSchema, "not an admin"),
      404: json(ErrorSchema, "no such deployment"),
      409: json(ErrorSchema, "not awaiting approval"),
    },
  });
const approve = decision("approve");
const reject = decision("reject");

export function deploymentRoutes(app: Api, deps: CoordinatorDeps) {
  app.openapi(approve, (c) =>
    c.json(
      decideApproval(deps, c.req.valid("param").id, "approved", c.get("principal"), c.req.valid("json").reason ?? null),
      200,
    ),
  );
  app.openapi(reject, (c) =>
    c.json(
      decideApproval(deps, c.req.valid("param").id, "rejected", c.get("principal"), c.req.valid("json").reason ?? null),
      200,
    ),
  );
  app.openapi(deploy, async (c) => {
    const out = await startDeploy(deps, c.req.valid("param").name, c.req.valid("json"), c.get("principal").username);
    return c.json(out, out.dryRun ? 200 : 202);
  });
  app.openapi(list, (c) => c.json(listDeployments(deps, c.req.valid("param").name, c.req.valid("query").limit), 200));
  app.openapi(get, (c) => c.json(deploymentView(deps, c.req.valid("param").id), 200));
  app.openapi(rollback, (c) =>
    c.json(startRollback(deps, c.req.valid("param").name, c.req.valid("json"), c.get("principal").username), 202),
  );
  app.openapi(choices, async (c) =>
    c.json(await deployChoices(deps, findEnv(deps.db, c.req.valid("param").name), CHOICES), 200),
  );
  app.openapi(candidates, (c) => c.json(listRollbackCandidates(deps, c.req.valid("param").name), 200));
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type DeploymentRoutes =
  | typeof approve
  | typeof reject
  | typeof deploy
  | typeof list
  | typeof get
  | typeof rollback
  | typeof candidates
  | typeof choices;
