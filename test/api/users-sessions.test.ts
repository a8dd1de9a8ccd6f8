/**
 * Users, sessions and tokens against the real API: a token never outranks its creator, expired
 * tokens and ended sessions are refused, removing a user ends everything they held, the last
 * admin stays, and the first-start password file goes once its password was used.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { apiTokens } from "../../src/auth/auth.sql";
import { ADMIN_PASSWORD, makeTestApi } from "../support/api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
type ErrorBody = { error: { code: string; message: string } };

const whoami = (token: string) => t.request("/api/v1/auth/whoami", { token });
const post = (path: string, body: unknown, token?: string) =>
  t.request(`/api/v1${path}`, { method: "POST", body: JSON.stringify(body), token });

beforeAll(async () => {
  t = await makeTestApi();
  await t.deps.auth.createUser("dev1", "dev1-password", "member");
  await t.deps.auth.createUser("eve", "eve-password", "viewer");
});
afterAll(() => t.cleanup());

describe("API tokens", () => {
  test("a member asking for an admin token is refused (403); a viewer token of a member can only read", async () => {
    const dev = await t.login("dev1", "dev1-password");
    const res = await post("/auth/tokens", { name: "escalate", role: "admin" }, dev);
    expect(res.status).toBe(403);
    expect(((await res.json()) as ErrorBody).error.message).toContain(
      "a token cannot have more rights than its creator: dev1 is member, asked for admin",
    );
    expect(t.deps.db.select().from(apiTokens).where(eq(apiTokens.name, "escalate")).all()).toEqual([]);

    const ro = await post("/auth/tokens", { name: "ro", role: "viewer" }, dev);
    expect(ro.status).toBe(201);
    const { token, expiresAt } = (await ro.json()) as { token: string; expiresAt: string };
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());
    expect(await (await whoami(token)).json()).toMatchObject({ username: "dev1", role: "viewer", via: "token" });
    expect((await post("/environments", { name: "x", tier: "dev" }, token)).status).toBe(403);
  });

  test("a token follows its owner's demotion", async () => {
    expect((await post("/users", { username: "ops2", password: "ops2-password", role: "admin" })).status).toBe(201);
    const ops = await t.login("ops2", "ops2-password");
    const created = (await (await post("/auth/tokens", { name: "ops-ci" }, ops)).json()) as {
      token: string;
      role: string;
    };
    expect(created.role).toBe("admin");
    expect(
      (await t.request("/api/v1/users/ops2/role", { method: "PUT", body: JSON.stringify({ role: "member" }) })).status,
    ).toBe(200);
    expect(await (await whoami(created.token)).json()).toMatchObject({ role: "member" });
    expect((await t.request("/api/v1/users", { token: created.token })).status).toBe(403);
  });

  test("an expired token is 401", async () => {
    const dev = await t.login("dev1", "dev1-password");
    const { id, token } = (await (await post("/auth/tokens", { name: "short", ttlDays: 1 }, dev)).json()) as {
      id: string;
      token: string;
    };
    expect((await whoami(token)).status).toBe(200);
    t.deps.db
      .update(apiTokens)
      .set({ expiresAt: new Date(Date.now() - 1000).toISOString() })
      .where(eq(apiTokens.id, id))
      .run();
    const res = await whoami(token);
    expect(res.status).toBe(401);
    expect(((await res.json()) as ErrorBody).error.message).toContain("expired");
  });

  test("a token without a stated expiry still expires (90 days)", async () => {
    const { expiresAt } = (await (await post("/auth/tokens", { name: "default-ttl" })).json()) as { expiresAt: string };
    const days = (Date.parse(expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89);
    expect(days).toBeLessThan(91);
  });
});

describe("sessions", () => {
  test("logout ends the session on the server: the same JWT is 401 afterwards", async () => {
    const s = await t.login("dev1", "dev1-password");
    expect((await whoami(s)).status).toBe(200);
    expect((await post("/auth/logout", {}, s)).status).toBe(204);
    const res = await whoami(s);
    expect(res.status).toBe(401);
    expect(((await res.json()) as ErrorBody).error.message).toContain("session ended");
  });

  test("auth sessions revoke ends another session of mine; someone else's is not mine to end", async () => {
    const a = await t.login("dev1", "dev1-password");
    const b = await t.login("dev1", "dev1-password");
    const mine = (await (await t.request("/api/v1/auth/sessions", { token: a })).json()) as {
      id: string;
      current: boolean;
      revokedAt: string | null;
    }[];
    const current = mine.find((x) => x.current)!;
    const other = (await (await t.request("/api/v1/auth/sessions", { token: b })).json()) as {
      id: string;
      current: boolean;
    }[];
    const bId = other.find((x) => x.current)!.id;
    expect(bId).not.toBe(current.id);
    expect((await t.request(`/api/v1/auth/sessions/${bId}`, { method: "DELETE", token: a })).status).toBe(204);
    expect((await whoami(b)).status).toBe(401);
    expect((await whoami(a)).status).toBe(200);

    const eve = await t.login("eve", "eve-password");
    expect((await t.request(`/api/v1/auth/sessions/${current.id}`, { method: "DELETE", token: eve })).status).toBe(404);
    expect((await whoami(a)).status).toBe(200);
  });

  test("a password change ends the other sessions, keeps this one, and needs the current password", async () => {
    const a = await t.login("eve", "eve-password");
    const b = await t.login("eve", "eve-password");
    expect((await post("/auth/password", { current: "wrong-password", new: "eve-password-2" }, a)).status).toBe(401);
    expect((await post("/auth/password", { current: "eve-password", new: "eve-password-2" }, a)).status).toBe(204);
    expect((await whoami(a)).status).toBe(200);
    expect((await whoami(b)).status).toBe(401);
    expect(
      (
        await t.request("/api/v1/auth/login", {
          method: "POST",
          token: null,
          body: JSON.stringify({ username: "eve", password: "eve-password" }),
        })
      ).status,
    ).toBe(401);
    await t.login("eve", "eve-password-2");
  });
});

describe("users", () => {
  test("removing a user ends their sessions and revokes their tokens", async () => {
    expect((await post("/users", { username: "temp", password: "temp-password", role: "member" })).status).toBe(201);
    const s = await t.login("temp", "temp-password");
    const { token } = (await (await post("/auth/tokens", { name: "temp-ci" }, s)).json()) as { token: string };
    expect((await t.request("/api/v1/users/temp", { method: "DELETE" })).status).toBe(204);
    expect((await whoami(s)).status).toBe(401);
    expect((await whoami(token)).status).toBe(401);
    expect((await (await t.request("/api/v1/users")).json()) as { username: string }[]).not.toContainEqual(
      expect.objectContaining({ username: "temp" }),
    );
  });

  test("the last admin can be neither removed nor demoted (409), another admin first", async () => {
    const admins = ((await (await t.request("/api/v1/users")).json()) as { username: string; role: string }[]).filter(
      (u) => u.role === "admin",
    );
    expect(admins.map((u) => u.username)).toEqual(["admin"]);
    const demote = await t.request("/api/v1/users/admin/role", {
      method: "PUT",
      body: JSON.stringify({ role: "member" }),
    });
    expect(demote.status).toBe(409);
    expect(((await demote.json()) as ErrorBody).error.message).toContain("admin is the last admin");
    expect((await t.request("/api/v1/users/admin", { method: "DELETE" })).status).toBe(409);
    expect(await (await whoami(t.token)).json()).toMatchObject({ role: "admin" });
  });

  test("an admin sets a password: the user's sessions end", async () => {
    const s = await t.login("dev1", "dev1-password");
    expect(
      (
        await t.request("/api/v1/users/dev1/password", {
          method: "PUT",
          body: JSON.stringify({ password: "dev1-password-new" }),
        })
      ).status,
    ).toBe(204);
    expect((await whoami(s)).status).toBe(401);
    await t.login("dev1", "dev1-password-new");
  });
});

describe("the first-start admin password file", () => {
  test("is removed by the first login with its password, not by other logins", async () => {
    const file = t.deps.paths.adminPasswordFile;
    writeFileSync(file, `${ADMIN_PASSWORD}\n`, { mode: 0o600 });
    await t.login("eve", "eve-password-2");
    expect(existsSync(file)).toBe(true);
    await t.login("admin", ADMIN_PASSWORD);
    expect(existsSync(file)).toBe(false);
  });

  test("is removed when its password is changed", async () => {
    const file = t.deps.paths.adminPasswordFile;
    await t.deps.auth.createUser("boot", "boot-first-password", "admin");
    const s = await t.login("boot", "boot-first-password");
    writeFileSync(file, "boot-first-password\n", { mode: 0o600 });
    expect(
      (await post("/auth/password", { current: "boot-first-password", new: "boot-second-password" }, s)).status,
    ).toBe(204);
    expect(existsSync(file)).toBe(false);
  });
});
