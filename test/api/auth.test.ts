import { VERSION } from "../../src/version";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sign } from "hono/jwt";
import { ADMIN_PASSWORD, makeTestApi } from "../support/api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
beforeAll(async () => {
  t = await makeTestApi();
});
afterAll(() => t.cleanup());

type ErrorBody = { error: { code: string; message: string } };

describe("auth", () => {
  test("health needs no token and reports state, version, uptime", async () => {
    const res = await t.request("/api/v1/health", { token: null });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { uptimeSec: unknown };
    expect(body).toMatchObject({ status: "ok", version: VERSION, state: { ok: true } });
    expect(typeof body.uptimeSec).toBe("number");
  });

  test("login returns a JWT that works, bad password is 401 with the error shape and audited", async () => {
    const ok = await t.request("/api/v1/auth/login", {
      method: "POST",
      token: null,
      body: JSON.stringify({ username: "admin", password: ADMIN_PASSWORD }),
    });
    expect(ok.status).toBe(200);
    const { token } = (await ok.json()) as { token: string };
    expect(token.split(".")).toHaveLength(3);
    const who = await t.request("/api/v1/auth/whoami", { token });
    expect(await who.json()).toMatchObject({ username: "admin", role: "admin", via: "jwt" });

    const bad = await t.request("/api/v1/auth/login", {
      method: "POST",
      token: null,
      body: JSON.stringify({ username: "admin", password: "nope" }),
    });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ error: { code: "unauthorized", message: "invalid username or password" } });
    expect(t.deps.audit.list().some((a) => a.action === "auth.login" && a.outcome === "denied")).toBe(true);
  });

  test("invalid login body is a 400 in the error shape", async () => {
    const res = await t.request("/api/v1/auth/login", {
      method: "POST",
      token: null,
      body: JSON.stringify({ username: "" }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe("invalid");
    expect(body.error.message).toContain("password");
  });

  test("API tokens: created once, usable, stored hashed, revocable", async () => {
    const res = await t.request("/api/v1/auth/tokens", { method: "POST", body: JSON.stringify({ name: "ci" }) });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { token: string; id: string };
    expect(created.token).toStartWith("odo_");
    const rows = t.deps.db.$client.query("select token_hash from api_tokens").all() as { token_hash: string }[];
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.some((r) => r.token_hash.includes(created.token))).toBe(false);
    expect((await t.request("/api/v1/auth/whoami", { token: created.token })).status).toBe(200);
    expect((await t.request(`/api/v1/auth/tokens/${created.id}`, { method: "DELETE" })).status).toBe(204);
    const after = await t.request("/api/v1/auth/whoami", { token: created.token });
    expect(after.status).toBe(401);
  });

  test("expired and tampered JWTs are rejected", async () => {
    const secret = (await Bun.file(t.deps.paths.jwtSecretFile).text()).trim();
    const expired = await sign({ sub: "x", exp: Math.floor(Date.now() / 1000) - 10 }, secret, "HS256");
    const r1 = await t.request("/api/v1/auth/whoami", { token: expired });
    expect(r1.status).toBe(401);
    expect(((await r1.json()) as ErrorBody).error.message).toContain("expired");
    const [h, p, s] = t.token.split(".");
    const tampered = `${h}.${p}${p.endsWith("A") ? "B" : "A"}.${s}`;
    expect((await t.request("/api/v1/auth/whoami", { token: tampered })).status).toBe(401);
  });

  test("oversized bodies are refused with 413", async () => {
    const res = await t.request("/api/v1/auth/tokens", { method: "POST", body: "x".repeat(1024 * 1024 + 10) });
    expect(res.status).toBe(413);
    // Only the database upload is exempt (it streams to disk): past the limit it reaches its handler.
    const upload = await t.request("/api/v1/environments/nope/db/import", {
      method: "POST",
      body: "x".repeat(2 * 1024 * 1024),
    });
    expect(upload.status).toBe(404);
    const unauthenticated = await t.request("/api/v1/environments/nope/db/import", {
      method: "POST",
      body: "x".repeat(2 * 1024 * 1024),
      token: "",
    });
    expect(unauthenticated.status).toBe(401);
  });

  test("openapi.json is OpenAPI 3.1 generated from the route schemas", async () => {
    const res = await t.request("/api/v1/openapi.json");
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/auth/login");
    expect(doc.components.schemas.EnvironmentSummary).toBeDefined();
  });
});
