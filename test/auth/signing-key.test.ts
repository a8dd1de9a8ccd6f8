/**
 * Rotating the session signing key: every login session ends (its token no longer authenticates),
 * API tokens keep working, new logins work, the key file is replaced (0600) and the rotation is
 * audited; only an admin may do it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { ADMIN_PASSWORD, makeTestApi } from "../support/api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
type ErrorBody = { error: { code: string; message: string } };

const whoami = (token: string) => t.request("/api/v1/auth/whoami", { token });
const rotate = (token: string) => t.request("/api/v1/auth/signing-key/rotate", { method: "POST", token });

beforeAll(async () => {
  t = await makeTestApi();
  await t.deps.auth.createUser("dev1", "dev1-password", "member");
});
afterAll(() => t.cleanup());

describe("auth rotate-signing-key", () => {
  test("a member may not rotate it", async () => {
    const dev = await t.login("dev1", "dev1-password");
    const res = await rotate(dev);
    expect(res.status).toBe(403);
    expect((await whoami(dev)).status).toBe(200);
  });

  test("sessions end, API tokens keep working, new logins work; the key file is new and 0600", async () => {
    const admin = await t.login("admin", ADMIN_PASSWORD);
    const dev = await t.login("dev1", "dev1-password");
    const created = await t.request("/api/v1/auth/tokens", {
      method: "POST",
      token: dev,
      body: JSON.stringify({ name: "ci" }),
    });
    expect(created.status).toBe(201);
    const apiToken = ((await created.json()) as { token: string }).token;
    const keyFile = t.deps.paths.jwtSecretFile;
    const before = readFileSync(keyFile, "utf8");

    const res = await rotate(admin);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { sessionsEnded: number }).sessionsEnded).toBeGreaterThanOrEqual(2);

    for (const old of [admin, dev]) {
      const r = await whoami(old);
      expect(r.status).toBe(401);
      expect(((await r.json()) as ErrorBody).error.message).toBe("invalid token");
    }
    expect((await whoami(apiToken)).status).toBe(200);
    expect((await whoami(await t.login("dev1", "dev1-password"))).status).toBe(200);
    expect(readFileSync(keyFile, "utf8")).not.toBe(before);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);

    const audit = await t.request("/api/v1/audit/logs?action=auth.signing-key.rotate", {
      token: await t.login("admin", ADMIN_PASSWORD),
    });
    expect(audit.status).toBe(200);
    expect(JSON.stringify(await audit.json())).toContain('"actor":"admin"');
  });
});
