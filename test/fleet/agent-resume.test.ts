/**
 * A remote agent killed (kill -9) in the middle of an env create: the coordinator requeues the job
 * once the lease expires, and the agent, started again, leases it with a fresh state slice and
 * resumes after the last finished step. Real processes: the agent is `bun src/main.ts serve`
 * (role agent) with its own root, PostgreSQL, nginx and docker name prefix.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { startDaemon } from "../../src/daemon/serve";
import { insertEnvironment, planCreate } from "../../src/env/create";
import { createEnvJob } from "../../src/env/create-job";
import { environments } from "../../src/env/env.sql";
import { hostCapacity } from "../../src/env/host-fit";
import { CreateEnvRequest } from "../../src/env/schema";
import { TERMINAL } from "../../src/jobs/status";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { agentProcesses } from "../support/fleet";
import { hostConfig, randomPortBase, writeHostConfig } from "../support/host-config";
import { startNginx, type TestNginx } from "../support/nginx";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { until } from "../support/wait";

const prefix = testNamePrefix();
let pgs: TestPostgres[] = [];
let nginxes: TestNginx[] = [];
let coordinator: Awaited<ReturnType<typeof startDaemon>>;
let agentRoot: string;
const agents = agentProcesses(() => coordinator, 1);

beforeAll(async () => {
  const [coordPg, agentPg, coordNginx, agentNginx] = await Promise.all([
    startPostgres({ dockerAccess: false }),
    startPostgres({ dockerAccess: false }),
    startNginx(),
    startNginx(),
  ]);
  pgs = [coordPg, agentPg];
  nginxes = [coordNginx, agentNginx];
  const host = (pg: TestPostgres, nginx: TestNginx, namePrefix: string, role: string) =>
    hostConfig(
      { pg, nginx, baseDomain: "test.localhost", namePrefix, portsFrom: randomPortBase(), portCount: 200 },
      { role, fleet: { listen: "127.0.0.1:0", heartbeatSec: 1 } },
    );
  writeHostConfig(coordNginx.dir, host(coordPg, coordNginx, `${prefix}c`, "coordinator"));
  coordinator = await startDaemon({
    root: coordNginx.dir,
    listen: "127.0.0.1:0",
    env: { ...process.env, ODOOOPS_ADMIN_PASSWORD: "agent-resume-pw" },
  });
  agentRoot = agentNginx.dir;
  const token = coordinator.deps.fleet.createJoinToken({ name: "agent-resume" }).token;
  agents.join(agentRoot, host(agentPg, agentNginx, `${prefix}a`, "agent"), token);
}, 180_000);

afterAll(async () => {
  await agents.killAll();
  await coordinator?.stop();
  await removeByNamePrefix(prefix);
  await Promise.all([...pgs.map((p) => p.stop()), ...nginxes.map((n) => n.stop())]);
}, 120_000);

const startAgent = () => agents.start(agentRoot);

const waitFor = <T>(what: string, probe: () => T | undefined | null | false) => until(what, probe, 150_000, 50);

test("kill -9 of the agent mid-create: requeued after the lease expires, resumed by the agent when it is back", async () => {
  let agent = startAgent();
  const deps = coordinator.deps;
  const hostId = (await agents.firstHeartbeat("agent-resume", 150_000)).id;
  // As env create with the env placed on the agent (see agent-runs-env.test.ts).
  const plan = planCreate(
    deps.db,
    deps.config,
    CreateEnvRequest.parse({ name: "resume-me", tier: "dev" }),
    hostCapacity(),
  );
  const env = insertEnvironment(deps.db, deps.box, plan, "admin");
  deps.db.update(environments).set({ hostId }).where(eq(environments.id, env.id)).run();
  const job = deps.jobs.enqueue(createEnvJob, { envId: env.id, slug: env.slug }, "admin");

  await waitFor("initdb running on the agent", () => {
    const step = deps.jobs.queue.view(job.id).steps.find((s) => s.name === "initdb");
    return step?.status === "running";
  });
  agent.kill("SIGKILL");
  await agent.exited;
  const leaseOwner = deps.jobs.queue.row(job.id).leaseOwner;
  expect(leaseOwner?.startsWith(`${hostId}:`)).toBe(true);

  agent = startAgent();
  const view = await waitFor("the job finished", () => {
    const v = deps.jobs.queue.view(job.id);
    return TERMINAL.has(v.status) ? v : null;
  });
  expect(view.error).toBeNull();
  expect(view.status).toBe("succeeded");
  const row = deps.jobs.queue.row(job.id);
  expect(row.attempts).toBe(2);
  const log = JSON.stringify(deps.jobs.logs.read(job.id, 0));
  expect(log).toContain(`agent ${leaseOwner} went away; job requeued to resume`);
  expect(log).toContain("resuming (attempt 2)");
  // The steps finished before the kill were not run again.
  expect(log.split("▶ Provisioning database").length - 1).toBe(1);

  const after = deps.db.select().from(environments).where(eq(environments.id, env.id)).get()!;
  expect(after.status).toBe("active");
  const health = await fetch(`http://127.0.0.1:${nginxes[1]!.port}/web/health?db_server_status=1`, {
    headers: { host: after.domain },
    keepalive: false,
  });
  expect(health.status).toBe(200);
}, 300_000);
