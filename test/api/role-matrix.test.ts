/**
 * The role matrix: every route the app registers × no credential, viewer, member and admin,
 * against the real API with real users and tokens. The route list comes from the app, so a new
 * route without a rule in src/api/permissions.ts fails here; the expectations come from the
 * policy stated in issue #13 (viewer reads, member deploys and operates, admin administers).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { API_BASE, PUBLIC_ROUTES } from "../../src/api/app";
import { ROUTE_RULES, ruleKey } from "../../src/api/permissions";
import { makeTestApi } from "../support/api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
const tokens: Record<"viewer" | "member" | "admin", string> = { viewer: "", member: "", admin: "" };

beforeAll(async () => {
  t = await makeTestApi();
  for (const role of ["viewer", "member", "admin"] as const) {
    await t.deps.auth.createUser(`matrix-${role}`, `${role}-password-long`, role);
    const session = await t.deps.auth.login(`matrix-${role}`, `${role}-password-long`);
    // An API token, not the session: the matrix calls logout, which would end a session.
    const res = await t.request("/api/v1/auth/tokens", {
      method: "POST",
      body: JSON.stringify({ name: "matrix" }),
      token: session.token,
    });
    tokens[role] = ((await res.json()) as { token: string }).token;
  }
});
afterAll(() => t.cleanup());

function appRoutes(): string[] {
  const keys = t.app.routes
    .filter((r) => r.method !== "ALL")
    .map((r) => ruleKey(r.method, r.path.slice(API_BASE.length)));
  return [...new Set(keys)].sort();
}

/** Reads: viewer, except a download of a whole database. */
const READ_EXCEPTIONS: Record<string, string> = { "GET /exports/{id}": "member" };
/** Writes a viewer may do: only about their own login, and validators that change nothing. */
const SELF_SERVICE = /^(POST|DELETE) \/auth\/|^POST \/(policy|anonymize-rules)\/validate$/;
/** Administration: users, projects, approvals, the audit log, state backups (the whole state), and the secrets that open an env. */
const ADMIN = [
  / \/users/,
  / \/dr\//,
  /^PUT \/projects\//,
  /^POST \/deployments\/\{id\}\/(approve|reject)$/,
  / \/audit\//,
  /^(GET|POST) \/environments\/\{name\}\/admin-password$/,
  /^POST \/environments\/\{name\}\/db\/rotate-credentials$/,
  /^GET \/projects\/\{name\}\/access$/,
  /^POST \/auth\/signing-key\/rotate$/,
  // The fleet: join tokens enroll machines; labels, draining, removal and env moves steer placement.
  /^(POST|PUT|DELETE) \/hosts/,
  /^POST \/environments\/\{name\}\/move$/,
];

function expectedRole(key: string): string {
  if (PUBLIC_ROUTES.has(key.replace(" ", ` ${API_BASE}`))) return "public";
  if (ADMIN.some((re) => re.test(key))) return "admin";
  if (key.startsWith("GET ")) return READ_EXCEPTIONS[key] ?? "viewer";
  return SELF_SERVICE.test(key) ? "viewer" : "member";
}

const RANK = { viewer: 0, member: 1, admin: 2 } as const;

describe("role matrix", () => {
  test("every registered route has a rule, and the rule is the policy's", () => {
    const routes = appRoutes();
    expect(routes.length).toBeGreaterThan(40);
    const missing = routes.filter((k) => !(k in ROUTE_RULES));
    expect(missing).toEqual([]);
    expect(Object.keys(ROUTE_RULES).filter((k) => !routes.includes(k))).toEqual([]);
    for (const k of routes) expect(`${k} → ${ROUTE_RULES[k]?.[0]}`).toBe(`${k} → ${expectedRole(k)}`);
  });

  test("every route × no credential, viewer, member, admin: 401 / 403 exactly where the policy says", async () => {
    const placeholder = "00000000-0000-0000-0000-000000000000";
    const failures: string[] = [];
    for (const key of appRoutes()) {
      const [method, path] = key.split(" ") as [string, string];
      const url = API_BASE + path.replace(/\{[A-Za-z]+\}/g, placeholder);
      const need = expectedRole(key);
      for (const who of [null, "viewer", "member", "admin"] as const) {
        const res = await t.request(url, {
          method,
          token: who === null ? null : tokens[who],
          body: method === "GET" ? undefined : "{}",
        });
        const body = (await res.clone().text()).slice(0, 300);
        if (need === "public") {
          if (res.status === 403) failures.push(`${key} as ${who}: 403 on a public route`);
          continue;
        }
        if (who === null) {
          if (res.status !== 401) failures.push(`${key} without a credential: ${res.status} ${body}`);
          continue;
        }
        const allowed = RANK[who] >= RANK[need as keyof typeof RANK];
        if (allowed && (res.status === 401 || res.status === 403))
          failures.push(`${key} as ${who}: ${res.status} but ${need} suffices: ${body}`);
        if (!allowed && res.status !== 403)
          failures.push(`${key} as ${who}: ${res.status}, expected 403 (needs ${need}): ${body}`);
        if (!allowed && res.status === 403) expect(body).toContain(`only ${need} users may`);
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
