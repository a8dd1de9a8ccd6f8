/**
 * The address recorded in the audit log is the socket's peer; X-Forwarded-For counts only when
 * that peer is a configured trusted proxy. Real app on a real loopback server, real source addresses.
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { ConfigSchema } from "../../src/config/schema";
import { makeTestApi } from "../support/api";
import { httpFrom } from "../support/http-from";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

async function serve(trustedProxies: string[]) {
  // Spelled out rather than parsed, so the same test also runs against a tree without these keys.
  const api = {
    trustedProxies,
    idleTimeoutSec: 60,
    denialAuditWindowSec: 300,
    loginThrottle: {
      maxFailuresPerUser: 5,
      maxFailuresPerIp: 20,
      baseLockoutSec: 1,
      maxLockoutSec: 900,
      forgetAfterSec: 3600,
    },
  };
  const t = await makeTestApi({ config: { ...ConfigSchema.parse({}), api } });
  const server: Server<undefined> = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: t.app.fetch });
  cleanups.push(async () => {
    await server.stop(true);
    t.cleanup();
  });
  const base = `http://127.0.0.1:${server.port}/api/v1`;
  const failLogin = (from: string, xff: string) =>
    httpFrom(from, `${base}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": xff },
      body: JSON.stringify({ username: `u${crypto.randomUUID().slice(0, 8)}`, password: "wrong-password" }),
    });
  const createToken = (from: string, xff: string) =>
    httpFrom(from, `${base}/auth/tokens`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.token}`, "x-forwarded-for": xff },
      body: JSON.stringify({ name: "ci" }),
    });
  const lastIp = (action: string) =>
    (
      t.deps.db.$client.query("select ip from audit_logs where action = ? order by rowid desc limit 1").get(action) as {
        ip: string | null;
      } | null
    )?.ip;
  return { t, failLogin, createToken, lastIp };
}

describe("client IP", () => {
  test("without trusted proxies X-Forwarded-For is ignored: the socket's address is recorded", async () => {
    const s = await serve([]);
    expect((await s.failLogin("127.0.0.1", "1.2.3.4")).status).toBe(401);
    expect(s.lastIp("auth.login")).toBe("127.0.0.1");
    expect((await s.createToken("127.0.0.2", "1.2.3.4")).status).toBe(201);
    expect(s.lastIp("auth.token.create")).toBe("127.0.0.2");
  });

  test("from a trusted proxy the nearest untrusted X-Forwarded-For hop is the client; from anyone else the header is ignored", async () => {
    const s = await serve(["127.0.0.1"]);
    expect((await s.failLogin("127.0.0.1", "1.2.3.4")).status).toBe(401);
    expect(s.lastIp("auth.login")).toBe("1.2.3.4");
    // The left part is whatever the client sent; the proxy appended the address it saw.
    expect((await s.failLogin("127.0.0.1", "6.6.6.6, 1.2.3.5")).status).toBe(401);
    expect(s.lastIp("auth.login")).toBe("1.2.3.5");
    expect((await s.failLogin("127.0.0.2", "1.2.3.4")).status).toBe(401);
    expect(s.lastIp("auth.login")).toBe("127.0.0.2");
    expect((await s.createToken("127.0.0.1", "203.0.113.9")).status).toBe(201);
    expect(s.lastIp("auth.token.create")).toBe("203.0.113.9");
  });

  test("a trusted-proxy entry that is not an address is refused by the config", () => {
    expect(() => ConfigSchema.parse({ api: { trustedProxies: ["nginx.local"] } })).toThrow(
      "an IP address or a CIDR range",
    );
    expect(ConfigSchema.parse({ api: { trustedProxies: ["10.0.0.0/8", "::1"] } }).api.trustedProxies).toEqual([
      "10.0.0.0/8",
      "::1",
    ]);
  });
});
