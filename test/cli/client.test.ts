/**
 * The CLI's typed client against the real app (in-process, real SQLite state, real auth): what
 * the types promise (the route's own response schema) is what arrives, paths are filled and
 * encoded, errors come back as the typed errors with their exit codes, and every request goes
 * through the one injected fetch. The @ts-expect-error lines fail the typecheck if the client's
 * types ever go loose (an unknown path, a missing placeholder, a wrong body).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { z } from "zod";
import { HealthSchema } from "../../src/api/routes/health";
import { UserView } from "../../src/auth/schema";
import { Invalid, NotFound, Unauthorized, Unavailable } from "../../src/errors";
import { JobView } from "../../src/jobs/view";
import type { ResponseOf } from "../../src/cli/api";
import { ApiClient } from "../../src/cli/client";
import { makeTestApi } from "../support/api";
import { probeJob } from "../support/jobs";

const BASE = "http://odooops.test";
const probe = probeJob([]);
let t: Awaited<ReturnType<typeof makeTestApi>>;
/** Every request the client sent, as the transport saw it. */
const sent: { url: string; method: string; auth: string | null }[] = [];
const transport = (url: string, init?: RequestInit) => {
  sent.push({
    url,
    method: init?.method ?? "GET",
    auth: new Headers(init?.headers).get("authorization"),
  });
  return t.fetch(url, init);
};
const api = () => new ApiClient(BASE, t.token, transport);

/** True only when A and B are the same type (not merely assignable one way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

beforeAll(async () => {
  t = await makeTestApi({ extraJobs: [probe] });
});
afterAll(() => t.cleanup());

describe("typed client", () => {
  test("response types are the routes' schemas, and real answers parse with them", async () => {
    const healthType: Equal<ResponseOf<"get", "/health">, z.output<typeof HealthSchema>> = true;
    const usersType: Equal<ResponseOf<"get", "/users">, z.output<typeof UserView>[]> = true;
    const jobType: Equal<ResponseOf<"get", "/jobs/{id}">, z.output<typeof JobView>> = true;
    expect([healthType, usersType, jobType]).toEqual([true, true, true]);

    const health = await api().get("/health");
    expect(HealthSchema.parse(health)).toEqual(health);
    expect(health.status).toBe("ok");

    const added = await api().post("/users", { body: { username: "carla", password: "a-long-password-1" } });
    expect(UserView.parse(added)).toEqual(added);
    expect(added.role).toBe("member");
    const users = await api().get("/users");
    expect(
      z
        .array(UserView)
        .parse(users)
        .map((u) => u.username),
    ).toEqual(["admin", "carla"]);

    const id = t.deps.jobs.enqueue(probe, { key: "client-test" }, "admin").id;
    const job = await api().get("/jobs/{id}", { params: { id } });
    expect(JobView.parse(job)).toEqual(job);
    expect(job.id).toBe(id);
    const listed = await api().get("/jobs", { query: { limit: 1 } });
    expect(
      z
        .array(JobView)
        .parse(listed)
        .map((j) => j.id),
    ).toEqual([id]);
  });

  test("placeholders are filled and encoded; queries skip undefined; one transport carries the token", async () => {
    sent.length = 0;
    await expect(api().delete("/users/{name}", { params: { name: "../jobs x" } })).rejects.toBeInstanceOf(NotFound);
    await api().get("/jobs", { query: { limit: 5, status: undefined } });
    await api().put("/users/{name}/role", { params: { name: "carla" }, body: { role: "viewer" } });
    expect(sent).toEqual([
      { url: `${BASE}/api/v1/users/..%2Fjobs%20x`, method: "DELETE", auth: `Bearer ${t.token}` },
      { url: `${BASE}/api/v1/jobs?limit=5`, method: "GET", auth: `Bearer ${t.token}` },
      { url: `${BASE}/api/v1/users/carla/role`, method: "PUT", auth: `Bearer ${t.token}` },
    ]);
    expect((await api().get("/users")).find((u) => u.username === "carla")?.role).toBe("viewer");
  });

  test("errors come back typed, with the server's message and the CLI's exit codes; nothing changed", async () => {
    const bad = api().post("/users", { body: { username: "x", password: "short" } });
    await expect(bad).rejects.toBeInstanceOf(Invalid);
    await expect(bad).rejects.toThrow("username: ");
    await expect(bad).rejects.toMatchObject({ exitCode: 2 });
    expect((await api().get("/users")).map((u) => u.username)).toEqual(["admin", "carla"]);

    const missing = api().get("/jobs/{id}", { params: { id: "no-such-job" } });
    await expect(missing).rejects.toBeInstanceOf(NotFound);
    await expect(missing).rejects.toMatchObject({ exitCode: 4 });

    const anonymous = new ApiClient(BASE, null, transport).get("/users");
    await expect(anonymous).rejects.toBeInstanceOf(Unauthorized);
    await expect(anonymous).rejects.toMatchObject({ exitCode: 3 });

    const down = new ApiClient(BASE, t.token, () => Promise.reject(new Error("connection refused"))).get("/health");
    await expect(down).rejects.toBeInstanceOf(Unavailable);
    await expect(down).rejects.toThrow(`cannot reach the odooops daemon at ${BASE}: connection refused`);
  });

  test("the types refuse unknown paths, missing placeholders and wrong bodies (checked by tsc)", async () => {
    const c = api();
    const refused = [
      // @ts-expect-error no such route
      () => c.get("/no-such-route"),
      // @ts-expect-error the path has {id}: params are required
      () => c.get("/jobs/{id}"),
      // @ts-expect-error role is one of the server's roles
      () => c.put("/users/{name}/role", { params: { name: "carla" }, body: { role: "owner" } }),
      // @ts-expect-error GET /users answers users, not a job
      async (): Promise<string> => (await c.get("/users"))[0].kind,
    ];
    // At run time the first is a 404 and the second cannot be built: the client never guesses a path.
    await expect(refused[0]()).rejects.toBeInstanceOf(NotFound);
    await expect(refused[1]()).rejects.toThrow("no value for {id} in /jobs/{id}");
    await expect(refused[2]()).rejects.toBeInstanceOf(Invalid);
  });
});
