import { createRoute, z } from "@hono/zod-openapi";
import { TooManyRequests, Unauthorized } from "../../errors";
import {
  ChangePasswordRequest,
  CreatedToken,
  CreateTokenRequest,
  LoginRequest,
  LoginResponse,
  SessionInfo,
  TokenInfo,
  WhoAmI,
} from "../../auth/schema";
import { changeOwnPassword } from "../../auth/users";
import type { Api } from "../deps";
import type { CoordinatorDeps } from "../../deps";
import { ErrorSchema } from "../errors";
import { json, jsonBody } from "./openapi";

const idParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path", required: true } }) });
const login = createRoute({
  method: "post",
  path: "/auth/login",
  tags: ["auth"],
  summary: "Exchange username/password for a session token (JWT HS256)",
  request: { body: jsonBody(LoginRequest) },
  responses: {
    200: json(LoginResponse, "session token"),
    401: json(ErrorSchema, "bad credentials"),
    429: json(
      ErrorSchema,
      "too many failed logins from this address or for this user; Retry-After says when to try again",
    ),
  },
});
const whoami = createRoute({
  method: "get",
  path: "/auth/whoami",
  tags: ["auth"],
  summary: "The caller",
  responses: { 200: json(WhoAmI, "principal") },
});
const createToken = createRoute({
  method: "post",
  path: "/auth/tokens",
  tags: ["auth"],
  summary: "Create a long-lived API token (shown once)",
  request: { body: jsonBody(CreateTokenRequest) },
  responses: { 201: json(CreatedToken, "token") },
});
const listTokens = createRoute({
  method: "get",
  path: "/auth/tokens",
  tags: ["auth"],
  summary: "List the caller's API tokens",
  responses: { 200: json(z.array(TokenInfo), "tokens") },
});
const revokeToken = createRoute({
  method: "delete",
  path: "/auth/tokens/{id}",
  tags: ["auth"],
  summary: "Revoke an API token",
  request: { params: idParam },
  responses: { 204: { description: "revoked" }, 404: json(ErrorSchema, "no such token") },
});

const logout = createRoute({
  method: "post",
  path: "/auth/logout",
  tags: ["auth"],
  summary: "End the caller's login session on the server",
  responses: { 204: { description: "logged out" }, 400: json(ErrorSchema, "not a login session (an API token)") },
});
const password = createRoute({
  method: "post",
  path: "/auth/password",
  tags: ["auth"],
  summary: "Change the caller's password (the current one is required); the caller's other sessions end",
  request: { body: jsonBody(ChangePasswordRequest) },
  responses: {
    204: { description: "changed" },
    400: json(ErrorSchema, "too short"),
    401: json(ErrorSchema, "wrong current password"),
  },
});
const listSessions = createRoute({
  method: "get",
  path: "/auth/sessions",
  tags: ["auth"],
  summary: "The caller's login sessions",
  responses: { 200: json(z.array(SessionInfo), "sessions") },
});
const revokeSession = createRoute({
  method: "delete",
  path: "/auth/sessions/{id}",
  tags: ["auth"],
  summary: "End a login session (the caller's own; admins: anyone's)",
  request: { params: idParam },
  responses: { 204: { description: "ended" }, 404: json(ErrorSchema, "no such active session") },
});

const rotateSigningKey = createRoute({
  method: "post",
  path: "/auth/signing-key/rotate",
  tags: ["auth"],
  summary: "A new secret for login sessions: every session ends (log in again), API tokens keep working (admin)",
  responses: {
    200: json(z.object({ sessionsEnded: z.number() }).openapi("SigningKeyRotated"), "rotated"),
    403: json(ErrorSchema, "not an admin"),
  },
});

export function authRoutes(app: Api, deps: CoordinatorDeps) {
  app.openapi(login, async (c) => {
    const { username, password } = c.req.valid("json");
    const ip = c.get("clientIp");
    const throttled = deps.loginThrottle.check(ip, username);
    if (throttled) {
      const who = throttled.by === "ip" ? "*" : username;
      deps.audit.deny(`login-throttled|${ip}|${who}`, {
        actor: username,
        action: "auth.login",
        details: { reason: "throttled", by: throttled.by },
      });
      const scope = throttled.by === "ip" ? "from this address" : `for user ${username}`;
      throw new TooManyRequests(
        `too many failed logins ${scope}; retry in ${throttled.retryAfterSec} s`,
        throttled.retryAfterSec,
      );
    }
    try {
      const session = await deps.auth.login(username, password);
      deps.loginThrottle.succeeded(username);
      deps.audit.record({ actor: session.username, action: "auth.login" });
      return c.json(session, 200);
    } catch (e) {
      if (e instanceof Unauthorized) {
        deps.loginThrottle.failed(ip, username);
        deps.audit.deny(`login-failed|${ip}|${username}`, {
          actor: username,
          action: "auth.login",
          details: { reason: "invalid username or password" },
        });
      }
      throw e;
    }
  });
  app.openapi(whoami, (c) => c.json(c.get("principal"), 200));
  app.openapi(createToken, (c) => {
    const body = c.req.valid("json");
    const p = c.get("principal");
    const created = deps.auth.createApiToken(p, body.name, { ttlDays: body.ttlDays, role: body.role });
    deps.audit.record({
      actor: p.username,
      action: "auth.token.create",
      target: created.id,
      details: { role: created.role, expiresAt: created.expiresAt },
    });
    return c.json(created, 201);
  });
  app.openapi(listTokens, (c) => c.json(deps.auth.listApiTokens(c.get("principal").userId), 200));
  app.openapi(revokeToken, (c) => {
    const p = c.get("principal");
    deps.auth.revokeApiToken(p, c.req.valid("param").id);
    deps.audit.record({ actor: p.username, action: "auth.token.revoke", target: c.req.valid("param").id });
    return c.body(null, 204);
  });
  app.openapi(logout, (c) => {
    const p = c.get("principal");
    deps.auth.logout(p);
    deps.audit.record({ actor: p.username, action: "auth.logout", target: p.credentialId });
    return c.body(null, 204);
  });
  app.openapi(password, async (c) => {
    const p = c.get("principal");
    const body = c.req.valid("json");
    await changeOwnPassword(deps.db, p.userId, body.current, body.new, {
      keepSession: p.via === "jwt" ? p.credentialId : undefined,
      adminPasswordFile: deps.paths.adminPasswordFile,
    });
    deps.audit.record({ actor: p.username, action: "auth.password", target: p.username });
    return c.body(null, 204);
  });
  app.openapi(rotateSigningKey, (c) => {
    const p = c.get("principal");
    const r = deps.auth.rotateSigningKey();
    deps.audit.record({ actor: p.username, action: "auth.signing-key.rotate", details: r });
    return c.json(r, 200);
  });
  app.openapi(listSessions, (c) => {
    const p = c.get("principal");
    return c.json(
      deps.auth.listSessions(p.userId).map((s) => ({ ...s, current: p.via === "jwt" && s.id === p.credentialId })),
      200,
    );
  });
  app.openapi(revokeSession, (c) => {
    const p = c.get("principal");
    deps.auth.revokeSession(p, c.req.valid("param").id);
    deps.audit.record({ actor: p.username, action: "auth.session.revoke", target: c.req.valid("param").id });
    return c.body(null, 204);
  });
}

/** The route definitions, for the CLI's typed client (src/cli/api.ts): paths, bodies, responses. */
export type AuthRoutes =
  | typeof login
  | typeof whoami
  | typeof createToken
  | typeof listTokens
  | typeof revokeToken
  | typeof logout
  | typeof password
  | typeof listSessions
  | typeof revokeSession
  | typeof rotateSigningKey;
