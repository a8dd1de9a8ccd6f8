/**
 * A queued job of an offline host says what it waits for and when it fails (`jobs show`,
 * `jobs list`, `env get`): through the API and the CLI in-process (real state, real queue).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { projects } from "../../src/env/env.sql";
import type { EnvDetail } from "../../src/env/schema";
import { hosts } from "../../src/fleet/fleet.sql";
import { offlineWait } from "../../src/fleet/offline-jobs";
import type { JobView } from "../../src/jobs/view";
import { runCliWith } from "../support/cli";
import { AGENT_INVENTORY, type CoordinatorApi, insertEnv, startCoordinatorApi } from "../support/fleet-api";

let t: CoordinatorApi["t"];
let agentCall: CoordinatorApi["agentCall"];
let join: CoordinatorApi["join"];

beforeAll(async () => {
  ({ t, agentCall, join } = await startCoordinatorApi({ heartbeatSec: 5, offlineJobTimeout: "10m" }));
});
afterAll(() => t.cleanup());

describe("a queued job of an offline host", () => {
  const lastHeard = "2026-01-02T03:04:05.000Z";
  const expected =
    "waiting for host wait-1 (offline since 2026-01-02T03:04:05.000Z; fails at 2026-01-02T03:14:05.000Z)";
  let host: { hostId: string; credential: string };
  let jobId: string;

  beforeAll(async () => {
    host = await join("wait-1");
    const project = t.deps.db.insert(projects).values({ name: "p-wait" }).returning().get();
    insertEnv(t.deps.db, project.id, "shop-wait", host.hostId, { containerName: "odooops-shop-wait-r1" });
    const r = await t.request("/api/v1/environments/shop-wait/stop", { method: "POST" });
    expect(r.status).toBe(202);
    jobId = ((await r.json()) as JobView).id;
  });

  test("online: nothing is said", async () => {
    expect(((await (await t.request(`/api/v1/jobs/${jobId}`)).json()) as JobView).waitingForHost).toBeNull();
    expect(((await (await t.request("/api/v1/environments/shop-wait")).json()) as EnvDetail).waitingForHost).toBeNull();
  });

  test("offline: jobs show, jobs list and env get say which host, since when, and when the job fails", async () => {
    t.deps.db.update(hosts).set({ lastHeartbeatAt: lastHeard }).where(eq(hosts.id, host.hostId)).run();
    const job = (await (await t.request(`/api/v1/jobs/${jobId}`)).json()) as JobView;
    expect(job.status).toBe("queued");
    expect(job.waitingForHost).toBe(expected);
    const list = (await (await t.request("/api/v1/jobs?limit=50")).json()) as JobView[];
    expect(list.find((j) => j.id === jobId)?.waitingForHost).toBe(expected);
    const env = (await (await t.request("/api/v1/environments/shop-wait")).json()) as EnvDetail;
    expect(env.waitingForHost).toBe(`job ${jobId} (env.stop) ${expected}`);

    const cliEnv = { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: t.token, ODOOOPS_ROOT: "/nonexistent" };
    const cli = (...argv: string[]) => runCliWith(argv, { fetch: (u, i) => t.fetch(u, i), env: cliEnv });
    const show = await cli("jobs", "show", jobId);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`\n${expected}\n`);
    const rows = (await cli("jobs", "list")).stdout.split("\n");
    expect(rows.find((l) => l.startsWith(jobId))).toEndWith(`queued, ${expected}`);
    expect((await cli("env", "get", "shop-wait")).stdout).toContain(`waiting   job ${jobId} (env.stop) ${expected}\n`);
  });

  test("back online (a heartbeat): the reason is gone", async () => {
    expect(
      (await agentCall("/heartbeat", { inventory: AGENT_INVENTORY, containers: [] }, host.credential)).status,
    ).toBe(200);
    expect(((await (await t.request(`/api/v1/jobs/${jobId}`)).json()) as JobView).waitingForHost).toBeNull();
  });

  test("offlineWait: this coordinator's own host and unknown hosts never wait", () => {
    const at = new Date("2026-06-01T00:00:00Z");
    t.deps.db.update(hosts).set({ lastHeartbeatAt: lastHeard }).where(eq(hosts.id, host.hostId)).run();
    expect(offlineWait(t.deps.db, t.deps.config, host.hostId, host.hostId, at)).toBeNull();
    expect(offlineWait(t.deps.db, t.deps.config, null, "no-such-host", at)).toBeNull();
    expect(offlineWait(t.deps.db, t.deps.config, null, host.hostId, at)).toBe(expected);
  });
});
