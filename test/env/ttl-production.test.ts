/**
 * A member may move an env's expiry, but must not get production destroyed that way: the TTL
 * sweep never destroys a production env (that needs an admin and its name), it reports it as
 * failed and leaves it running. No agent: jobs stay queued.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { environments } from "../../src/env/env.sql";
import { ttlSweep } from "../../src/github/ttl-sweep";
import { jobs } from "../../src/jobs/jobs.sql";
import type { JobView } from "../../src/jobs/view";
import { makeTestApi } from "../support/api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
beforeAll(async () => {
  t = await makeTestApi();
});
afterAll(() => t.cleanup());

test("a member sets production to expire in 12 h; past that, the sweep refuses to destroy it", async () => {
  const res = await t.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name: "prod", tier: "production" }),
  });
  expect(res.status).toBe(202);
  const { job } = (await res.json()) as { job: JobView };
  expect((await t.request(`/api/v1/jobs/${job.id}/cancel`, { method: "POST" })).status).toBe(200);
  t.deps.db.update(environments).set({ status: "active", release: 1 }).where(eq(environments.slug, "prod")).run();

  await t.deps.auth.createUser("deployer", "deployer-password", "member");
  const { token } = await t.deps.auth.login("deployer", "deployer-password");
  const ext = await t.request("/api/v1/environments/prod/extend", {
    method: "POST",
    body: JSON.stringify({ ttl: "12h" }),
    token,
  });
  expect(ext.status).toBe(200);
  const expiresAt = t.deps.db.select().from(environments).where(eq(environments.slug, "prod")).get()!.ttlExpiresAt!;

  const out = ttlSweep(t.deps, new Date(Date.parse(expiresAt) + 60_000));
  expect(out.destroyed).toEqual([]);
  expect(out.failed).toHaveLength(1);
  expect(out.failed[0]).toMatchObject({ env: "prod" });
  expect(out.failed[0]!.error).toContain("refusing to destroy production environment prod without confirm=prod");
  expect(
    t.deps.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, "env.destroy"), eq(jobs.target, "prod")))
      .all(),
  ).toEqual([]);
  expect(t.deps.db.select().from(environments).where(eq(environments.slug, "prod")).get()!.status).toBe("active");
});
