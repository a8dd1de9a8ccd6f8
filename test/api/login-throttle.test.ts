/**
 * M2: a password brute force against the real app on a real loopback server. Clients are real
 * source addresses (127.0.0.2, .3, .4), not headers. After the threshold the login answers 429 with
 * Retry-After — the right password too — per IP and per user, and the audit log holds a few
 * coalesced rows with counts instead of one row per attempt.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { LoginThrottle } from "../../src/auth/login-throttle";
import { ConfigSchema } from "../../src/config/schema";
import { ADMIN_PASSWORD, makeTestApi } from "../support/api";
import { httpFrom } from "../support/http-from";

const PER_USER = 5;
const PER_IP = 10;
const ATTEMPTS = 200;
const LOCKOUT_SEC = 300;

let t: Awaited<ReturnType<typeof makeTestApi>>;
let server: Server<undefined>;
let url = "";

beforeAll(async () => {
  // Spelled out rather than parsed, so the same test also runs against a tree without these keys.
  const loginThrottle = {
    maxFailuresPerUser: PER_USER,
    maxFailuresPerIp: PER_IP,
    baseLockoutSec: LOCKOUT_SEC,
    maxLockoutSec: 3600,
    forgetAfterSec: 3600,
  };
  const config = {
    ...ConfigSchema.parse({}),
    api: { trustedProxies: [], idleTimeoutSec: 60, denialAuditWindowSec: 300, loginThrottle },
  };
  t = await makeTestApi({ config });
  await t.deps.auth.createUser("bob", "bobs-password-1", "member");
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: t.app.fetch });
  url = `http://127.0.0.1:${server.port}/api/v1/auth/login`;
});
afterAll(async () => {
  await server?.stop(true);
  t?.cleanup();
});

const login = (from: string, username: string, password: string) =>
  httpFrom(from, url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });

type Row = { ip: string | null; actor: string; details: { count?: number; reason?: string } | null };

describe("login throttling", () => {
  test("a brute force from one IP is refused with 429 + Retry-After after the threshold, the right password too, and is audited in a few coalesced rows", async () => {
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < ATTEMPTS; i++) {
      const res = await login("127.0.0.2", "admin", `guess-${i}`);
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers["retry-after"] as string;
    }
    expect(statuses.slice(0, PER_USER)).toEqual(Array(PER_USER).fill(401));
    expect(statuses.slice(PER_USER)).toEqual(Array(ATTEMPTS - PER_USER).fill(429));
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeLessThanOrEqual(LOCKOUT_SEC);

    const right = await login("127.0.0.2", "admin", ADMIN_PASSWORD);
    expect(right.status).toBe(429);
    expect(JSON.parse(right.body).error.code).toBe("too_many_requests");

    t.deps.audit.flush();
    const rows = (
      t.deps.db.$client
        .query(
          "select ip, actor, details from audit_logs where action = 'auth.login' and outcome = 'denied' and ip = '127.0.0.2'",
        )
        .all() as { ip: string; actor: string; details: string }[]
    ).map((r): Row => ({ ...r, details: JSON.parse(r.details) as Row["details"] }));
    expect(rows.length).toBeLessThanOrEqual(4);
    expect(rows.every((r) => r.actor === "admin")).toBe(true);
    expect(rows.reduce((n, r) => n + (r.details?.count ?? 0), 0)).toBe(ATTEMPTS + 1);
  });

  test("the locked user stays locked from another IP, while that IP may still try other users", async () => {
    const other = await login("127.0.0.3", "admin", ADMIN_PASSWORD);
    expect(other.status).toBe(429);
    expect(JSON.parse(other.body).error.message).toContain("for user admin");
    expect((await login("127.0.0.3", "bob", "not-bobs")).status).toBe(401);
    expect((await login("127.0.0.3", "bob", "bobs-password-1")).status).toBe(200);
  });

  test("one IP spraying many usernames is throttled per IP", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < PER_IP + 5; i++) statuses.push((await login("127.0.0.4", `user${i}`, "password1")).status);
    expect(statuses.slice(0, PER_IP)).toEqual(Array(PER_IP).fill(401));
    expect(statuses.slice(PER_IP)).toEqual(Array(5).fill(429));
    const res = await login("127.0.0.4", "bob", "bobs-password-1");
    expect(res.status).toBe(429);
    expect(JSON.parse(res.body).error.message).toContain("from this address");
  });

  test("each failure past the threshold doubles the wait, up to the maximum", () => {
    const throttle = new LoginThrottle({
      maxFailuresPerIp: 100,
      maxFailuresPerUser: 3,
      baseLockoutSec: 10,
      maxLockoutSec: 45,
      forgetAfterSec: 3600,
    });
    const waits: (number | null)[] = [];
    for (let i = 0; i < 6; i++) {
      throttle.failed("192.0.2.1", "carol");
      waits.push(throttle.check("192.0.2.9", "carol")?.retryAfterSec ?? null);
    }
    expect(waits).toEqual([null, null, 10, 20, 40, 45]);
    throttle.succeeded("carol");
    expect(throttle.check("192.0.2.9", "carol")).toBeNull();
  });
});
