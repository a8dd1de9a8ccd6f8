import { createRoute, z } from "@hono/zod-openapi";
import { listBackups, startBackup } from "../../db/backups";
import { startClone, startRestore } from "../../db/restores";
import { BackupListQuery, BackupView, CloneRequest, DbOperationResponse, RestoreRequest } from "../../db/schema";
import { JobView } from "../../jobs/view";
import type { Api, ApiDeps } from "../deps";
import { ErrorSchema } from "../errors";
import { json, jsonBody } from "./openapi";

const nameParam = z.object({ name: z.string().min(1).max(200).openapi({ param: { name: "name", in: "path", required: true } }) });

const create = createRoute({
  method: "post",
  path: "/environments/{name}/backups",
  tags: ["backups"],
  summary: "Back up an environment's database and filestore (a job), then apply retention",
  request: { params: nameParam },
  responses: { 202: json(JobView, "queued"), 400: json(ErrorSchema, "no backup target configured"), 404: json(ErrorSchema, "no such environment"), 409: json(ErrorSchema, "not in a state for this") },
});
const list = createRoute({
  method: "get",
  path: "/environments/{name}/backups",
  tags: ["backups"],
  summary: "An environment's backups, newest first: status, size, where, and when retention deletes them",
  request: { params: nameParam, query: BackupListQuery },
  responses: { 200: json(z.array(BackupView), "backups"), 404: json(ErrorSchema, "no such environment") },
});
const operationResponses = {
  202: json(DbOperationResponse, "queued"),
  200: json(DbOperationResponse, "dry run: the plan, nothing changed"),
  400: json(ErrorSchema, "invalid, or production without forceProduction"),
  404: json(ErrorSchema, "no such environment or backup"),
  409: json(ErrorSchema, "an environment is not active or stopped"),
};
const restore = createRoute({
  method: "post",
  path: "/environments/{name}/db/restore",
  tags: ["backups"],
  summary: "Replace the environment's database and filestore with a backup (its own, or another env's with `from`), as a job",
  request: { params: nameParam, body: jsonBody(RestoreRequest) },
  responses: operationResponses,
});
const clone = createRoute({
  method: "post",
  path: "/environments/{name}/db/clone",
  tags: ["backups"],
  summary: "Replace the environment's database and filestore with a copy of another environment's, as a job",
  request: { params: nameParam, body: jsonBody(CloneRequest) },
  responses: operationResponses,
});

export function backupRoutes(app: Api, deps: ApiDeps) {
  app.openapi(create, (c) => c.json(startBackup(deps, c.req.valid("param").name, c.get("principal").username), 202));
  app.openapi(list, (c) => c.json(listBackups(deps, c.req.valid("param").name, c.req.valid("query").limit), 200));
  app.openapi(restore, (c) => {
    const out = startRestore(deps, c.req.valid("param").name, c.req.valid("json"), c.get("principal").username);
    return out.dryRun ? c.json(out, 200) : c.json(out, 202);
  });
  app.openapi(clone, (c) => {
    const out = startClone(deps, c.req.valid("param").name, c.req.valid("json"), c.get("principal").username);
    return out.dryRun ? c.json(out, 200) : c.json(out, 202);
  });
}
