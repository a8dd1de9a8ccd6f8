import { createRoute, z } from "@hono/zod-openapi";
import { requireRole } from "../../auth/roles";
import { TierName } from "../../config/schema";
import { listProjects, projectAccess, resolveProject, setProject, shownRepoUrl } from "../../env/projects";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { ErrorSchema } from "../errors";
import { json, jsonBody } from "./openapi";

const ProjectView = z
  .object({
    name: z.string(),
    repoUrl: z.string().nullable().openapi({ description: "a password in the URL is shown as ***" }),
    defaultBranch: z.string(),
    webhookSecretSet: z.boolean(),
    createdAt: z.string(),
  })
  .openapi("Project");
const SetProjectRequest = z
  .object({
    repoUrl: z.string().min(1).max(2000).nullable().optional(),
    defaultBranch: z.string().min(1).max(200).optional(),
    webhookSecret: z
      .string()
      .max(256)
      .nullable()
      .optional()
      .openapi({ description: "GitHub webhook secret (write-only); null removes it" }),
  })
  .strict()
  .openapi("SetProjectRequest");
const nameParam = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "lowercase letters, digits and '-'")
    .openapi({ param: { name: "name", in: "path", required: true } }),
});

const list = createRoute({
  method: "get",
  path: "/projects",
  tags: ["projects"],
  summary: "Projects and their git repositories",
  responses: { 200: json(z.array(ProjectView), "projects") },
});
const put = createRoute({
  method: "put",
  path: "/projects/{name}",
  tags: ["projects"],
  summary: "Create a project or change its repository / default branch / webhook secret",
  request: { params: nameParam, body: jsonBody(SetProjectRequest) },
  responses: { 200: json(ProjectView, "the project"), 400: json(ErrorSchema, "invalid repository URL or branch") },
});

const AccessView = z
  .object({ project: z.string(), user: z.string(), password: z.string(), protectedTiers: z.array(TierName) })
  .openapi("ProjectAccess");
const access = createRoute({
  method: "get",
  path: "/projects/{name}/access",
  tags: ["projects"],
  summary: "The HTTP basic-auth credentials of the project's protected tiers (admins only; audited)",
  request: { params: nameParam },
  responses: {
    200: json(AccessView, "credentials"),
    403: json(ErrorSchema, "not an admin"),
    404: json(ErrorSchema, "no such project"),
  },
});

const view = (p: ReturnType<typeof listProjects>[number]) => ({
  name: p.name,
  repoUrl: shownRepoUrl(p),
  defaultBranch: p.defaultBranch,
  webhookSecretSet: p.webhookSecretEnc !== null,
  createdAt: p.createdAt,
});

export function projectRoutes(app: Api, deps: CoordinatorDeps) {
  app.openapi(list, (c) => c.json(listProjects(deps.db).map(view), 200));
  app.openapi(put, (c) => {
    const { name } = c.req.valid("param");
    const body = c.req.valid("json");
    const p = setProject(deps.db, name, body, deps.box);
    const details = {
      repoUrl: shownRepoUrl(p),
      defaultBranch: p.defaultBranch,
      ...(body.webhookSecret !== undefined
        ? { webhookSecret: body.webhookSecret === null ? "removed" : "changed" }
        : {}),
    };
    deps.audit.record({ actor: c.get("principal").username, action: "project.set", target: name, details });
    return c.json(view(p), 200);
  });
  app.openapi(access, (c) => {
    const principal = c.get("principal");
    requireRole(principal, "admin", "read a project's access credentials");
    const project = resolveProject(deps.db, c.req.valid("param").name);
    const creds = projectAccess(deps.db, deps.box, project.id);
    deps.audit.record({ actor: principal.username, action: "project.show-access", target: project.name });
    const protectedTiers = TierName.options.filter((t) => deps.config.access[t].basicAuth);
    return c.json({ project: project.name, ...creds, protectedTiers }, 200);
  });
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type ProjectRoutes = typeof list | typeof put | typeof access;
