import { afterAll, beforeAll, expect, test } from "bun:test";
import { sign } from "hono/jwt";
import { PUBLIC_ROUTES } from "../../src/api/app";
import { makeTestApi } from "../support/api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
beforeAll(async () => {
  t = await makeTestApi();
});
afterAll(() => t.cleanup());

function registeredRoutes() {
  const seen = new Set<string>();
  return t.app.routes
    .filter((r) => r.method !== "ALL")
    .map((r) => ({ method: r.method, path: r.path }))
    .filter((r) => {
      const key = `${r.method} ${r.path}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

test("every registered route except the public ones answers 401 without, with an expired and with a tampered token", async () => {
  const routes = registeredRoutes();
  expect(routes.length).toBeGreaterThan(5);
  const secret = (await Bun.file(t.deps.paths.jwtSecretFile).text()).trim();
  const admin = t.deps.db.$client.query("select id from users where username = 'admin'").get() as { id: string };
  const expired = await sign({ sub: admin.id, exp: Math.floor(Date.now() / 1000) - 1 }, secret, "HS256");
  const [h, p, s] = t.token.split(".");
  const tampered = `${h}.${p}.${s.slice(0, -2)}${s.endsWith("AA") ? "BB" : "AA"}`;
  const forged = await sign({ sub: admin.id, exp: Math.floor(Date.now() / 1000) + 600 }, "not-the-secret", "HS256");

  let checked = 0;
  for (const r of routes) {
    if (PUBLIC_ROUTES.has(`${r.method} ${r.path}`)) continue;
    const url = r.path.replace(/:[A-Za-z]+/g, "00000000-0000-0000-0000-000000000000");
    for (const token of [null, expired, tampered, forged, "odo_not-a-real-token"]) {
      const res = await t.request(url, { method: r.method, token, body: r.method === "GET" ? undefined : "{}" });
      if (res.status !== 401)
        throw new Error(`${r.method} ${r.path} answered ${res.status} with token ${token?.slice(0, 12)}`);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    }
    checked++;
  }
  expect(checked).toBe(routes.length - PUBLIC_ROUTES.size);
});
