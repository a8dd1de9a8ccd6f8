import { createRoute, z } from "@hono/zod-openapi";
import { CreateUserRequest, ResetPasswordRequest, SetRoleRequest, UserView } from "../../auth/schema";
import { findUser, listUsers, removeUser, resetPassword, setRole, userView } from "../../auth/users";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { ErrorSchema } from "../errors";
import { json, jsonBody, pathParam } from "./openapi";

const nameParam = pathParam("name", 64);

const list = createRoute({
  method: "get",
  path: "/users",
  tags: ["users"],
  summary: "Users, their roles and how many sessions and tokens they have",
  responses: { 200: json(z.array(UserView), "users") },
});
const add = createRoute({
  method: "post",
  path: "/users",
  tags: ["users"],
  summary: "Add a user",
  request: { body: jsonBody(CreateUserRequest) },
  responses: {
    201: json(UserView, "the user"),
    400: json(ErrorSchema, "invalid name or password"),
    409: json(ErrorSchema, "exists"),
  },
});
const role = createRoute({
  method: "put",
  path: "/users/{name}/role",
  tags: ["users"],
  summary: "Change a user's role (never the last admin's)",
  request: { params: nameParam, body: jsonBody(SetRoleRequest) },
  responses: {
    200: json(UserView, "the user"),
    404: json(ErrorSchema, "no such user"),
    409: json(ErrorSchema, "the last admin"),
  },
});
const password = createRoute({
  method: "put",
  path: "/users/{name}/password",
  tags: ["users"],
  summary: "Set a user's password; all of that user's sessions end",
  request: { params: nameParam, body: jsonBody(ResetPasswordRequest) },
  responses: { 204: { description: "set" }, 404: json(ErrorSchema, "no such user") },
});
const remove = createRoute({
  method: "delete",
  path: "/users/{name}",
  tags: ["users"],
  summary: "Remove a user with their sessions and API tokens (never the last admin)",
  request: { params: nameParam },
  responses: {
    204: { description: "removed" },
    404: json(ErrorSchema, "no such user"),
    409: json(ErrorSchema, "the last admin"),
  },
});

export function userRoutes(app: Api, deps: CoordinatorDeps) {
  const view = (username: string) => userView(deps.db, username);
  app.openapi(list, (c) => c.json(listUsers(deps.db), 200));
  app.openapi(add, async (c) => {
    const body = c.req.valid("json");
    const user = await deps.auth.createUser(body.username, body.password, body.role);
    deps.audit.record({
      actor: c.get("principal").username,
      action: "user.add",
      target: user.username,
      details: { role: user.role },
    });
    return c.json(view(user.username), 201);
  });
  app.openapi(role, (c) => {
    const { name } = c.req.valid("param");
    const before = findUser(deps.db, name).role;
    const user = setRole(deps.db, name, c.req.valid("json").role);
    deps.audit.record({
      actor: c.get("principal").username,
      action: "user.role",
      target: name,
      details: { from: before, to: user.role },
    });
    return c.json(view(name), 200);
  });
  app.openapi(password, async (c) => {
    const { name } = c.req.valid("param");
    await resetPassword(deps.db, name, c.req.valid("json").password, {
      adminPasswordFile: deps.paths.adminPasswordFile,
    });
    deps.audit.record({ actor: c.get("principal").username, action: "user.password", target: name });
    return c.body(null, 204);
  });
  app.openapi(remove, (c) => {
    const { name } = c.req.valid("param");
    removeUser(deps.db, name);
    deps.audit.record({ actor: c.get("principal").username, action: "user.remove", target: name });
    return c.body(null, 204);
  });
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type UserRoutes = typeof list | typeof add | typeof role | typeof password | typeof remove;
