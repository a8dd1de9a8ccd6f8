/**
 * Four eyes on production: the admin who started a deployment cannot approve it (by default);
 * another admin can; a server configured for a one-person team lets the starter approve.
 * Real API, real state, real users; the deployments wait for approval in state.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { ConfigSchema } from "../../src/config/schema";
import { deployments } from "../../src/deploy/deploy.sql";
import { environments } from "../../src/env/env.sql";
import type { JobView } from "../../src/jobs/view";
import { makeTestApi } from "../support/api";

type Api = Awaited<ReturnType<typeof makeTestApi>>;
const apis: Api[] = [];
afterAll(() => {
  for (const t of apis) t.cleanup();
});

async function withWaitingDeployment(config?: unknown) {
  const t = await makeTestApi(config === undefined ? {} : { config: ConfigSchema.parse(config) });
  apis.push(t);
  const res = await t.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name: "shop", tier: "production" }),
  });
  expect(res.status).toBe(202);
  const { job } = (await res.json()) as { job: JobView };
  expect((await t.request(`/api/v1/jobs/${job.id}/cancel`, { method: "POST" })).status).toBe(200);
  t.deps.db.update(environments).set({ status: "active", release: 1 }).where(eq(environments.slug, "shop")).run();
  const envId = t.deps.db.select().from(environments).where(eq(environments.slug, "shop")).get()!.id;
  const id = t.deps.db
    .insert(deployments)
    .values({
      envId,
      release: 2,
      status: "awaiting_approval",
      createdBy: "admin",
      approvalDeadline: new Date(Date.now() + 3_600_000).toISOString(),
    })
    .returning()
    .get().id;
  return { t, id };
}

const approve = (t: Api, id: string, token?: string) =>
  t.request(`/api/v1/deployments/${id}/approve`, { method: "POST", body: "{}", token });

describe("approvals", () => {
  test("the starter cannot approve their own deployment; another admin can", async () => {
    const { t, id } = await withWaitingDeployment();
    const self = await approve(t, id);
    expect(self.status).toBe(403);
    expect(((await self.json()) as { error: { message: string } }).error.message).toContain(
      `admin started deployment ${id}: another admin must approve it`,
    );
    expect(t.deps.db.select().from(deployments).where(eq(deployments.id, id)).get()?.approvalDecision).toBeNull();

    await t.deps.auth.createUser("ops", "ops-password-long", "admin");
    const { token } = await t.deps.auth.login("ops", "ops-password-long");
    expect((await approve(t, id, token)).status).toBe(200);
    expect(t.deps.db.select().from(deployments).where(eq(deployments.id, id)).get()).toMatchObject({
      approvalDecision: "approved",
      approvalBy: "ops",
    });
  });

  test("the starter may reject their own deployment", async () => {
    const { t, id } = await withWaitingDeployment();
    expect((await t.request(`/api/v1/deployments/${id}/reject`, { method: "POST", body: "{}" })).status).toBe(200);
  });

  test("deploy.selfApproval: true (one-person team): the starter approves", async () => {
    const { t, id } = await withWaitingDeployment({ deploy: { selfApproval: true } });
    expect((await approve(t, id)).status).toBe(200);
    expect(t.deps.db.select().from(deployments).where(eq(deployments.id, id)).get()).toMatchObject({
      approvalDecision: "approved",
      approvalBy: "admin",
    });
  });
});
