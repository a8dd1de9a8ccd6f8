import { createRoute, z } from "@hono/zod-openapi";
import { TooManyRequests, Unauthorized } from "../../errors";
import { CreatedToken, CreateTokenRequest, LoginRequest, LoginResponse, TokenInfo, WhoAmI } from "../../auth/schema";
import type { Api, ApiDeps } from "../deps";
import { ErrorSchema } from "../errors";
import { json, jsonBody } from "./openapi";

const login = createRoute({
  method: "post",
  path: "/auth/login",
  tags: ["auth"],
  summary: "Exchange username/password for a session token (JWT HS256)",
  request: { body: jsonBody(LoginRequest) },
  responses: {
    200: json(LoginResponse, "session token"),
    401: json(ErrorSchema, "bad credentials"),
    429: json(ErrorSchema, "too many failed logins from this address or for this user; Retry-After says when to try again"),
  },
});
const whoami = createRoute({ method: "get", path: "/auth/whoami", tags: ["auth"], summary: "The caller", responses: { 200: json(WhoAmI, "principal") } });
const createToken = createRoute({
  method: "post",
  path: "/auth/tokens",
  tags: ["auth"],
  summary: "Create a long-lived API token (shown once)",
  request: { body: jsonBody(CreateTokenRequest) },
  responses: { 201: json(CreatedToken, "token") },
});
const listTokens = createRoute({ method: "get", path: "/auth/tokens", tags: ["auth"], summary: "List the caller's API tokens", responses: { 200: json(z.array(TokenInfo), "tokens") } });
const revokeToken = createRoute({
  method: "delete",
  path: "/auth/tokens/{id}",
  tags: ["auth"],
  summary: "Revoke an API token",
  request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path", required: true } }) }) },
  responses: { 204: { description: "revoked" }, 404: json(ErrorSchema, "no such token") },
});

export function authRoutes(app: Api, deps: ApiDeps) {
  app.openapi(login, async (c) => {
    const { username, password } = c.req.valid("json");
    const ip = c.get("clientIp");
    const throttled = deps.loginThrottle.check(ip, username);
    if (throttled) {
      const who = throttled.by === "ip" ? "*" : username;
      deps.audit.deny(`login-throttled|${ip}|${who}`, { actor: username, action: "auth.login", details: { reason: "throttled", by: throttled.by } });
      const scope = throttled.by === "ip" ? "from this address" : `for user ${username}`;
      throw new TooManyRequests(`too many failed logins ${scope}; retry in ${throttled.retryAfterSec} s`, throttled.retryAfterSec);
    }
    try {
      const session = await deps.auth.login(username, password);
      deps.loginThrottle.succeeded(username);
      deps.audit.record({ actor: session.username, action: "auth.login" });
      return c.json(session, 200);
    } catch (e) {
      if (e instanceof Unauthorized) {
        deps.loginThrottle.failed(ip, username);
        deps.audit.deny(`login-failed|${ip}|${username}`, { actor: username, action: "auth.login", details: { reason: "invalid username or password" } });
      }
      throw e;
    }
  });
  app.openapi(whoami, (c) => c.json(c.get("principal"), 200));
  app.openapi(createToken, (c) => {
    const body = c.req.valid("json");
    const p = c.get("principal");
    const created = deps.auth.createApiToken(p.userId, body.name, body.ttlDays);
    deps.audit.record({ actor: p.username, action: "auth.token.create", target: created.id });
    return c.json(created, 201);
  });
  app.openapi(listTokens, (c) => c.json(deps.auth.listApiTokens(c.get("principal").userId), 200));
  app.openapi(revokeToken, (c) => {
    const p = c.get("principal");
    deps.auth.revokeApiToken(p.userId, c.req.valid("param").id);
    deps.audit.record({ actor: p.username, action: "auth.token.revoke", target: c.req.valid("param").id });
    return c.body(null, 204);
  });
}
