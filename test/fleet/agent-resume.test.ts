/**
 * A remote agent killed (kill -9) in the middle of an env create: the coordinator requeues the job
 * once the lease expires, and the agent, started again, leases it with a fresh state slice and
 * resumes after the last finished step. Real processes: the agent is `bun src/main.ts serve`
 * (role agent) with its own root, PostgreSQL, nginx and docker name prefix.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { eq } from "drizzle-orm";
import { SecretBox } from "../../src/auth/secretbox";
import { resolvePaths } from "../../src/config/paths";
import { startDaemon } from "../../src/daemon/serve";
import { insertEnvironment, planCreate } from "../../src/env/create";
import { createEnvJob } from "../../src/env/create-job";
import { environments } from "../../src/env/env.sql";
import { hostCapacity } from "../../src/env/host-fit";
import { CreateEnvRequest } from "../../src/env/schema";
import { hostByName } from "../../src/fleet/hosts";
import { decodeJoinToken } from "../../src/fleet/join-token";
import { writeJoin } from "../../src/init/join";
import { TERMINAL } from "../../src/jobs/status";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { hostConfig, randomPortBase, writeHostConfig } from "../support/host-config";
import { startNginx, type TestNginx } from "../support/nginx";
import { startPostgres, type TestPostgres } from "../support/postgres";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const prefix = testNamePrefix();
let pgs: TestPostgres[] = [];
let nginxes: TestNginx[] = [];
let coordinator: Awaited<ReturnType<typeof startDaemon>>;
let agentRoot: string;
const children: Subprocess[] = [];

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
  writeHostConfig(agentRoot, host(agentPg, agentNginx, `${prefix}a`, "agent"));
  const token = coordinator.deps.fleet.createJoinToken({ name: "agent-resume" }).token;
  const paths = resolvePaths(agentRoot);
  writeJoin(paths, { url: decodeJoinToken(token).url, token }, SecretBox.fromFile(paths.secretKeyFile));
}, 180_000);

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await Promise.all(children.map((c) => c.exited));
  await coordinator?.stop();
  await removeByNamePrefix(prefix);
  await Promise.all([...pgs.map((p) => p.stop()), ...nginxes.map((n) => n.stop())]);
}, 120_000);

function startAgent(): Subprocess {
  const proc = Bun.spawn(["bun", MAIN, "serve"], {
    env: { ...process.env, ODOOOPS_ROOT: agentRoot },
    stdout: "ignore",
    stderr: "ignore",
  });
  children.push(proc);
  return proc;
}

async function waitFor<T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 150_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

test("kill -9 of the agent mid-create: requeued after the lease expires, resumed by the agent when it is back", async () => {
  let agent = startAgent();
  const deps = coordinator.deps;
  const hostId = await waitFor("the agent joined", () => {
    try {
      return hostByName(deps.db, "agent-resume").id;
    } catch {
      return null;
    }
  });
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
