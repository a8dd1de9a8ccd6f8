/**
 * A queued job of an offline host says what it waits for and when it fails (`jobs show`,
 * `jobs list`, `env get`): through the API and the CLI in-process (real state, real queue).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { createAgentApp } from "../../src/api/routes/agent";
import { ConfigSchema } from "../../src/config/schema";
import { environments, projects } from "../../src/env/env.sql";
import type { EnvDetail } from "../../src/env/schema";
import { hosts } from "../../src/fleet/fleet.sql";
import { offlineWait } from "../../src/fleet/offline-jobs";
import type { JobView } from "../../src/jobs/view";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let agentApi: ReturnType<typeof createAgentApp>;
const inventory = {
  cores: 4,
  memoryMb: 8192,
  diskFreeMb: 50_000,
  load: 0.5,
  docker: null,
  postgres: null,
  nginx: null,
  agentVersion: "0.1.0",
};
const config = ConfigSchema.parse({ role: "coordinator", fleet: { heartbeatSec: 5, offlineJobTimeout: "10m" } });

beforeAll(async () => {
  t = await makeTestApi({ config });
  t.deps.fleet.endpoint = { url: "https://127.0.0.1:8421", fingerprint: Array(32).fill("0F").join(":") };
  agentApi = createAgentApp(t.deps);
});
afterAll(() => t.cleanup());

const agentCall = (path: string, body: unknown, credential = "") =>
  agentApi.request(`/api/v1/agent${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${credential}` },
    body: JSON.stringify(body),
  });

describe("a queued job of an offline host", () => {
  const lastHeard = "2026-01-02T03:04:05.000Z";
  const expected =
    "waiting for host wait-1 (offline since 2026-01-02T03:04:05.000Z; fails at 2026-01-02T03:14:05.000Z)";
  let host: { hostId: string; credential: string };
  let jobId: string;

  beforeAll(async () => {
    const token = t.deps.fleet.createJoinToken({ name: "wait-1" }).token;
    host = (await (await agentCall("/join", { token, name: "wait-1", inventory })).json()) as typeof host;
    const project = t.deps.db.insert(projects).values({ name: "p-wait" }).returning().get();
    t.deps.db
      .insert(environments)
      .values({
        projectId: project.id,
        name: "shop-wait",
        slug: "shop-wait",
        tier: "dev",
        status: "active",
        hostId: host.hostId,
        containerName: "odooops-shop-wait-r1",
        odooImage: "odoo:17.0",
        domain: "shop-wait.test",
        dbName: "odoo_shop_wait",
        dbUser: "odoo_shop_wait",
        dbPasswordEnc: "x",
        adminPasswdEnc: "x",
        cpus: "1",
        memoryMb: 512,
        modules: ["base"],
      })
      .run();
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
    expect((await agentCall("/heartbeat", { inventory, containers: [] }, host.credential)).status).toBe(200);
    expect(((await (await t.request(`/api/v1/jobs/${jobId}`)).json()) as JobView).waitingForHost).toBeNull();
  });

  test("offlineWait: this coordinator's own host and unknown hosts never wait", () => {
    const at = new Date("2026-06-01T00:00:00Z");
    t.deps.db.update(hosts).set({ lastHeartbeatAt: lastHeard }).where(eq(hosts.id, host.hostId)).run();
    expect(offlineWait(t.deps.db, config, host.hostId, host.hostId, at)).toBeNull();
    expect(offlineWait(t.deps.db, config, null, "no-such-host", at)).toBeNull();
    expect(offlineWait(t.deps.db, config, null, host.hostId, at)).toBe(expected);
  });
});
