/**
 * The coordinator's minute probe asks only the envs it serves itself: an env placed on an agent
 * answers through that agent's nginx, which the coordinator does not reach; probing it through
 * the coordinator's own nginx would count a healthy env as down.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { projects } from "../../src/env/env.sql";
import { probeServingEnvs } from "../../src/report/uptime";
import { uptimeHours } from "../../src/report/uptime.sql";
import { type CoordinatorApi, insertEnv, startCoordinatorApi } from "../support/fleet-api";

let api: CoordinatorApi;
beforeAll(async () => {
  api = await startCoordinatorApi();
});
afterAll(() => api.t.cleanup());

test("an env on an agent is not probed nor counted; the coordinator's own env is", async () => {
  const { t } = api;
  const agent = await api.join("uptime-a");
  const project = t.deps.db.insert(projects).values({ name: "p-uptime" }).returning().get();
  const remote = insertEnv(t.deps.db, project.id, "up-remote", agent.hostId);
  const own = insertEnv(t.deps.db, project.id, "up-own", t.deps.fleet.localHostId);
  // Whether the own env answers does not matter here (nothing of the test's serves it): only who is asked.
  expect((await probeServingEnvs(t.deps)).probed).toBe(1);
  expect(t.deps.db.select().from(uptimeHours).where(eq(uptimeHours.envId, remote.id)).all()).toEqual([]);
  expect(t.deps.db.select().from(uptimeHours).where(eq(uptimeHours.envId, own.id)).all()).toHaveLength(1);
});
