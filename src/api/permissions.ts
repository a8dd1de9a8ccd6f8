/**
 * Who may call what: every route of the API and the least role it needs, in one table.
 * viewer reads; member (deployer) deploys, rolls back, backs up, creates and destroys
 * non-production environments; admin does everything, including users, projects and whatever
 * replaces or removes a production environment's data (PRODUCTION_ADMIN below, checked once the
 * env's tier is known). A route missing from the table is admin-only, and
 * test/api/role-matrix.test.ts fails until it is added here.
 */
import { requireRole, type Role } from "../auth/roles";
import type { Principal } from "../auth/service";
import type { Environment } from "../env/env.sql";
import { findEnv } from "../env/lookup";
import type { Db } from "../state/db";

/** `public`: no credential at all (each has its own guard, or exposes nothing). */
export type Rule = readonly [Role | "public", string];

export const ROUTE_RULES: Record<string, Rule> = {
  "GET /health": ["public", "check health"],
  "POST /auth/login": ["public", "log in"],
  "POST /webhooks/github": ["public", "deliver GitHub webhooks (HMAC-signed)"],

  "GET /openapi.json": ["viewer", "read the API description"],
  "GET /metrics": ["viewer", "read metrics"],
  "GET /auth/whoami": ["viewer", "ask who they are"],
  "POST /auth/logout": ["viewer", "log out"],
  "POST /auth/password": ["viewer", "change their own password"],
  "GET /auth/sessions": ["viewer", "list their sessions"],
  "DELETE /auth/sessions/{id}": ["viewer", "end their sessions"],
  "POST /auth/signing-key/rotate": ["admin", "rotate the session signing key"],
  "GET /auth/tokens": ["viewer", "list their API tokens"],
  "POST /auth/tokens": ["viewer", "create API tokens (at most their own role)"],
  "DELETE /auth/tokens/{id}": ["viewer", "revoke their API tokens"],

  "GET /users": ["admin", "list users"],
  "POST /users": ["admin", "add users"],
  "PUT /users/{name}/role": ["admin", "change roles"],
  "PUT /users/{name}/password": ["admin", "set other users' passwords"],
  "DELETE /users/{name}": ["admin", "remove users"],

  "GET /audit/logs": ["admin", "read the audit log"],
  "GET /audit/verify": ["admin", "verify the audit chain"],
  "GET /audit/export": ["admin", "export the audit log"],
  "POST /audit/export": ["admin", "export the audit log"],

  "GET /health/check": ["viewer", "check every environment's health"],
  "GET /report": ["viewer", "read the service report"],
  "POST /environments/{name}/db/rotate-credentials": ["admin", "rotate an environment's database credentials"],
  "GET /dr/state-backups": ["admin", "list state backups"],
  "POST /dr/state-backups": ["admin", "back up the state"],
  "POST /dr/tests": ["admin", "run a DR test"],
  "GET /dr/tests": ["admin", "read DR test reports"],
  "POST /dr/rebuild": ["admin", "rebuild environments from state"],

  "GET /projects": ["viewer", "list projects"],
  "PUT /projects/{name}": ["admin", "create or change projects"],
  "GET /projects/{name}/access": ["admin", "read a project's access credentials"],
  "GET /policy": ["viewer", "read policies"],
  "POST /policy/validate": ["viewer", "validate policy files"],
  "POST /anonymize-rules/validate": ["viewer", "validate anonymization rules"],

  "GET /environments": ["viewer", "list environments"],
  "GET /environments/{name}": ["viewer", "read environments"],
  "GET /environments/{name}/logs": ["viewer", "read environment logs"],
  "POST /environments": ["member", "create environments"],
  "DELETE /environments/{name}": ["member", "destroy environments"],
  "POST /environments/{name}/extend": ["member", "extend environments"],
  "GET /environments/{name}/admin-password": ["admin", "read an environment's Odoo admin password"],
  "POST /environments/{name}/admin-password": ["admin", "rotate an environment's Odoo admin password"],
  "POST /environments/{name}/move": ["admin", "move environments between hosts"],
  "POST /environments/{name}/{action}": ["member", "start, stop or restart environments"],

  "GET /environments/{name}/backups": ["viewer", "list backups"],
  "POST /environments/{name}/backups": ["member", "back up environments"],
  "POST /environments/{name}/db/restore": ["member", "restore databases"],
  "POST /environments/{name}/db/clone": ["member", "clone databases"],
  "POST /environments/{name}/db/import": ["member", "import databases"],
  "POST /environments/{name}/db/import/filestore": ["member", "import databases"],
  "POST /environments/{name}/db/migrate": ["member", "migrate databases"],
  "POST /environments/{name}/db/export": ["member", "export databases"],
  "GET /environments/{name}/db/anonymize-detect": [
    "viewer",
    "look for personal columns no anonymization rule covers (names and counts only)",
  ],
  "GET /exports": ["viewer", "list exports"],
  "GET /exports/{id}": ["member", "download exports (a full copy of the data)"],
  "DELETE /exports/{id}": ["member", "delete exports"],
  "POST /exports/clean": ["member", "clean exports"],

  "GET /environments/{name}/deployments": ["viewer", "list deployments"],
  "GET /deployments/{id}": ["viewer", "read deployments"],
  "GET /environments/{name}/rollback": ["viewer", "list rollback candidates"],
  "GET /environments/{name}/commits": ["viewer", "list branches and commits to deploy"],
  "POST /environments/{name}/deployments": ["member", "deploy"],
  "POST /environments/{name}/rollback": ["member", "roll back"],
  "POST /deployments/{id}/approve": ["admin", "approve deployments"],
  "POST /deployments/{id}/reject": ["admin", "reject deployments"],

  "GET /certificates": ["viewer", "list certificates"],
  "POST /certificates/renew": ["member", "renew certificates"],
  "POST /certificates/import": ["member", "import certificates"],

  "GET /hosts": ["viewer", "list hosts"],
  "GET /hosts/{name}": ["viewer", "read hosts"],
  "POST /hosts/tokens": ["admin", "create join tokens"],
  "PUT /hosts/{name}/labels": ["admin", "label hosts"],
  "PUT /hosts/{name}/draining": ["admin", "drain hosts"],
  "POST /hosts/{name}/credential/rotate": ["admin", "rotate agent credentials"],
  "DELETE /hosts/{name}": ["admin", "remove hosts"],

  "GET /jobs": ["viewer", "list jobs"],
  "GET /jobs/{id}": ["viewer", "read jobs"],
  "GET /jobs/{id}/log": ["viewer", "read job logs"],
  "GET /jobs/{id}/events": ["viewer", "follow jobs"],
  "POST /jobs/{id}/cancel": ["member", "cancel jobs"],
};

const UNLISTED: Rule = ["admin", "call a route without a permission rule"];

/** `GET /environments/:name` (hono) → `GET /environments/{name}` (the table, as in openapi.json). */
export function ruleKey(method: string, honoPath: string): string {
  return `${method} ${honoPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`;
}

function ruleFor(key: string): Rule {
  return ROUTE_RULES[key] ?? UNLISTED;
}

export function isPublic(key: string): boolean {
  return ROUTE_RULES[key]?.[0] === "public";
}

export function enforceRule(principal: Principal, key: string): void {
  const [role, what] = ruleFor(key);
  if (role === "public") return;
  requireRole(principal, role, what);
}

/** Actions that replace or remove a production environment's data, or make a new production env. */
export const PRODUCTION_ADMIN = {
  create: "create production environments",
  destroy: "destroy production environments",
  restore: "restore into production environments",
  clone: "clone into production environments",
  import: "import into production environments",
} as const;

export function requireForTier(principal: Principal, action: keyof typeof PRODUCTION_ADMIN, tier: string): void {
  if (tier === "production") requireRole(principal, "admin", PRODUCTION_ADMIN[action]);
}

/** The named env, once the caller may do `action` to it: its tier decides, whatever the route's own rule. */
export function requireForEnv(
  db: Db,
  principal: Principal,
  action: keyof typeof PRODUCTION_ADMIN,
  name: string,
): Environment {
  const env = findEnv(db, name);
  requireForTier(principal, action, env.tier);
  return env;
}
