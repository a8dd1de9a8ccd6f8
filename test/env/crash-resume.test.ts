/**
 * A crash at every step of env create and destroy, with the real host: the agent "dies" right
 * after a step did its work but before it was recorded (the hardest point for idempotency),
 * its lease expires, and a fresh agent resumes. The env always ends active with one container
 * (create) or with nothing left (destroy) — never half.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { createEnvJob } from "../../src/env/create-job";
import { environments } from "../../src/env/env.sql";
import { destroyEnvJob } from "../../src/env/lifecycle-jobs";
import { LABEL_ENV } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { Agent } from "../../src/jobs/agent";
import type { JobChannel, StepPatch } from "../../src/jobs/queue";
import { startEnvHost } from "../support/env-host";
import { randomSuffix } from "../support/tmp";

let host: Awaited<ReturnType<typeof startEnvHost>>;
const agents: Agent[] = [];
beforeAll(async () => {
  host = await startEnvHost({ agent: false });
}, 120_000);
afterAll(async () => {
  for (const a of agents) await a.stop(100);
  await host.stop();
}, 120_000);

/** A channel that stops answering forever once step `idx` reports `done`: the process "died". */
function dyingChannel(real: JobChannel, idx: number): JobChannel & { isDead(): boolean } {
  let dead = false;
  const never = new Promise<never>(() => undefined);
  const guard = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) => (...a: A): Promise<R> => (dead ? never : fn(...a));
  return {
    isDead: () => dead,
    lease: guard((agent, ms) => real.lease(agent, ms)),
    heartbeat: guard((id, owner, ms) => real.heartbeat(id, owner, ms)),
    log: guard((id, owner, lines) => real.log(id, owner, lines)),
    finish: guard((id, owner, outcome) => real.finish(id, owner, outcome)),
    step: guard(async (id: string, owner: string, i: number, patch: StepPatch) => {
      if (i === idx && patch.status === "done") {
        dead = true;
        return never;
      }
      return real.step(id, owner, i, patch);
    }),
  };
}

async function crashThenResume(jobId: string, idx: number, n: number) {
  const q = host.deps.jobs.queue;
  const channel = dyingChannel(q, idx);
  const doomed = new Agent({ identity: { hostId: "test", owner: `test:doomed-${n}` }, channel, registry: host.deps.jobs.registry, deps: host.deps, pollMs: 20, leaseMs: 300, heartbeatMs: 100 });
  agents.push(doomed);
  doomed.start();
  while (q.row(jobId).status === "queued") await Bun.sleep(20);
  // Wait until the doomed agent went silent at the chosen step, then for its lease to expire.
  for (let i = 0; !channel.isDead() || q.row(jobId).leaseExpiresAt! >= new Date().toISOString(); i++) {
    if (i > 3000) throw new Error(`never reached step ${idx}: ${JSON.stringify({ row: q.row(jobId), steps: q.view(jobId).steps.map((s) => s.status) })}`);
    await Bun.sleep(20);
  }
  void doomed.stop(0);
  expect(q.recover()).toBe(1);
  const rescuer = new Agent({ identity: { hostId: "test", owner: `test:rescuer-${n}` }, channel: q, registry: host.deps.jobs.registry, deps: host.deps, pollMs: 20 });
  agents.push(rescuer);
  rescuer.start();
  const job = await host.waitJob(jobId);
  await rescuer.stop(1000);
  return job;
}

describe("crash at every step, then resume", () => {
  const createSteps = createEnvJob.steps.map((s) => s.name);
  const destroySteps = destroyEnvJob.steps.map((s) => s.name);

  createSteps.forEach((stepName, idx) => {
    test(`create: crash after "${stepName}" did its work → resumed, active, one container; destroy crash after "${destroySteps[idx % destroySteps.length]}" → nothing left`, async () => {
      const name = `crash-${idx}-${randomSuffix(6)}`;
      const res = await host.api.request("/api/v1/environments", { method: "POST", body: JSON.stringify({ name, tier: "dev" }) });
      expect(res.status).toBe(202);
      const { job, env } = (await res.json()) as { job: { id: string }; env: { id: string } };
      const done = await crashThenResume(job.id, idx, idx);
      expect(done.error).toBeNull();
      expect(done.status).toBe("succeeded");
      expect(host.deps.db.select().from(environments).where(eq(environments.id, env.id)).get()!.status).toBe("active");
      const web = (await run({ argv: ["docker", "ps", "-aq", "--filter", `label=${LABEL_ENV}=${env.id}`] })).stdout.split("\n").filter(Boolean);
      expect(web).toHaveLength(1);
      const domain = host.deps.db.select().from(environments).where(eq(environments.id, env.id)).get()!.domain;
      expect((await host.viaNginx(domain, "/web/health?db_server_status=1")).status).toBe(200);

      const del = await host.api.request(`/api/v1/environments/${name}`, { method: "DELETE" });
      const destroyJob = (await del.json()) as { id: string };
      const destroyed = await crashThenResume(destroyJob.id, idx % destroySteps.length, 100 + idx);
      expect(destroyed.status).toBe("succeeded");
      expect((await run({ argv: ["docker", "ps", "-aq", "--filter", `label=${LABEL_ENV}=${env.id}`] })).stdout.trim()).toBe("");
      expect((await run({ argv: ["docker", "network", "ls", "-q", "--filter", `label=${LABEL_ENV}=${env.id}`] })).stdout.trim()).toBe("");
      expect(host.deps.db.select().from(environments).where(eq(environments.id, env.id)).get()!.status).toBe("destroyed");
    }, 240_000);
  });
});
