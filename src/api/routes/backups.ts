import { createRoute, z } from "@hono/zod-openapi";
import { listBackups, startBackup } from "../../db/backups";
import { BackupListQuery, BackupView } from "../../db/schema";
import { JobView } from "../../jobs/view";
import type { Api, ApiDeps } from "../deps";
import { ErrorSchema } from "../errors";
import { json } from "./openapi";

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

export function backupRoutes(app: Api, deps: ApiDeps) {
  app.openapi(create, (c) => c.json(startBackup(deps, c.req.valid("param").name, c.get("principal").username), 202));
  app.openapi(list, (c) => c.json(listBackups(deps, c.req.valid("param").name, c.req.valid("query").limit), 200));
}
