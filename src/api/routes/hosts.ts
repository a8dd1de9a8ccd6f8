/** The fleet for operators: join tokens, host list/get/label/drain/remove (src/fleet/hosts.ts). */
import { createRoute, z } from "@hono/zod-openapi";
import { hostView, listHosts, removeHost, requestCredentialRotation, setDraining, setLabels } from "../../fleet/hosts";
import {
  CreateJoinTokenRequest,
  DrainRequest,
  HostViewSchema,
  JoinTokenSchema,
  LabelsRequest,
  RemovalSchema,
} from "../../fleet/schema";
import { parseJoinTtl } from "../../fleet/tokens";
import type { CoordinatorDeps } from "../../deps";
import type { Api } from "../deps";
import { ErrorSchema } from "../errors";
import { json, jsonBody, pathParam } from "./openapi";

const nameParam = pathParam("name", 63);

const createToken = createRoute({
  method: "post",
  path: "/hosts/tokens",
  tags: ["hosts"],
  summary: "A one-time join token for a new agent (shown once)",
  request: { body: jsonBody(CreateJoinTokenRequest) },
  responses: {
    201: json(JoinTokenSchema, "the token"),
    400: json(ErrorSchema, "bad ttl or labels"),
    503: json(ErrorSchema, "not a coordinator"),
  },
});
const list = createRoute({
  method: "get",
  path: "/hosts",
  tags: ["hosts"],
  summary: "Hosts with status, inventory and envs",
  responses: { 200: json(z.array(HostViewSchema), "hosts") },
});
const get = createRoute({
  method: "get",
  path: "/hosts/{name}",
  tags: ["hosts"],
  summary: "One host",
  request: { params: nameParam },
  responses: { 200: json(HostViewSchema, "the host"), 404: json(ErrorSchema, "no such host") },
});
const labels = createRoute({
  method: "put",
  path: "/hosts/{name}/labels",
  tags: ["hosts"],
  summary: "Set or remove a host's labels",
  request: { params: nameParam, body: jsonBody(LabelsRequest) },
  responses: { 200: json(HostViewSchema, "the host"), 404: json(ErrorSchema, "no such host") },
});
const drain = createRoute({
  method: "put",
  path: "/hosts/{name}/draining",
  tags: ["hosts"],
  summary: "Stop (or resume) new placements on a host; nothing moves by itself",
  request: { params: nameParam, body: jsonBody(DrainRequest) },
  responses: { 200: json(HostViewSchema, "the host"), 404: json(ErrorSchema, "no such host") },
});
const rotateCredential = createRoute({
  method: "post",
  path: "/hosts/{name}/credential/rotate",
  tags: ["hosts"],
  summary:
    "Give an agent a new credential: it fetches it at its next heartbeat, and its old one is refused once it uses the new one",
  request: { params: nameParam },
  responses: {
    202: json(HostViewSchema, "the host, with the rotation pending"),
    400: json(ErrorSchema, "not an agent"),
    404: json(ErrorSchema, "no such host"),
  },
});
const remove = createRoute({
  method: "delete",
  path: "/hosts/{name}",
  tags: ["hosts"],
  summary: "Forget a host and revoke its agent credential (refused while envs live there unless force)",
  request: {
    params: nameParam,
    query: z.object({ force: z.enum(["true", "false"]).optional() }),
  },
  responses: {
    200: json(RemovalSchema, "what was removed and lost"),
    404: json(ErrorSchema, "no such host"),
    409: json(ErrorSchema, "envs live there, or the coordinator's own host"),
  },
});

export function hostRoutes(app: Api, deps: CoordinatorDeps) {
  const { db, fleet } = deps;
  const view = (name: string) => hostView(db, name, fleet.heartbeatSec);
  const actor = (c: { get(k: "principal"): { username: string } }) => c.get("principal").username;

  app.openapi(createToken, (c) => {
    const body = c.req.valid("json");
    const created = fleet.createJoinToken({
      ttlMs: body.ttl === undefined ? undefined : parseJoinTtl(body.ttl),
      name: body.name,
      labels: body.labels,
      createdBy: actor(c),
    });
    deps.audit.record({
      actor: actor(c),
      action: "host.token.create",
      target: body.name ?? null,
      details: { tokenId: created.id, expiresAt: created.expiresAt, labels: body.labels ?? {} },
    });
    return c.json(created, 201);
  });
  app.openapi(list, (c) => c.json(listHosts(db, fleet.heartbeatSec), 200));
  app.openapi(get, (c) => c.json(view(c.req.valid("param").name), 200));
  app.openapi(labels, (c) => {
    const { name } = c.req.valid("param");
    const body = c.req.valid("json");
    setLabels(db, name, body.set, body.remove);
    deps.audit.record({ actor: actor(c), action: "host.label", target: name, details: body });
    return c.json(view(name), 200);
  });
  app.openapi(drain, (c) => {
    const { name } = c.req.valid("param");
    const { draining } = c.req.valid("json");
    setDraining(db, name, draining);
    deps.audit.record({ actor: actor(c), action: draining ? "host.drain" : "host.undrain", target: name });
    return c.json(view(name), 200);
  });
  app.openapi(rotateCredential, (c) => {
    const { name } = c.req.valid("param");
    requestCredentialRotation(db, name);
    deps.audit.record({ actor: actor(c), action: "host.credential.rotate.request", target: name });
    return c.json(view(name), 202);
  });
  app.openapi(remove, (c) => {
    const { name } = c.req.valid("param");
    const force = c.req.valid("query").force === "true";
    const removal = removeHost(db, name, {
      force,
      localHostId: fleet.localHostId,
      failQueuedJobs: (hostId, reason) => deps.jobs.queue.failQueuedOfHost(hostId, reason, { running: true }),
    });
    deps.audit.record({
      actor: actor(c),
      action: "host.remove",
      target: name,
      details: { force, abandonedEnvs: removal.abandonedEnvs, failedJobs: removal.failedJobs },
    });
    return c.json(removal, 200);
  });
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type HostRoutes =
  | typeof createToken
  | typeof list
  | typeof get
  | typeof labels
  | typeof drain
  | typeof rotateCredential
  | typeof remove;
