/**
 * Test harness for hosts started without their own agent (`startEnvHost({ agent: false })`):
 * run a job with a fresh agent, or let an agent "die" (kill -9) right after a step did its work
 * but before that was recorded, then resume the job with a new agent once the lease expired.
 */
import { expect } from "bun:test";
import { Agent } from "../../src/jobs/agent";
import type { JobChannel, StepPatch } from "../../src/jobs/queue";
import type { JobView } from "../../src/jobs/view";
import type { startEnvHost } from "./env-host";

type Host = Awaited<ReturnType<typeof startEnvHost>>;

let seq = 0;

/** Runs queued jobs with a fresh agent until `jobId` ends. */
export async function runJob(host: Host, jobId: string): Promise<JobView> {
  const agent = new Agent({
    identity: { hostId: "test", owner: `test:runner-${++seq}` },
    channel: host.deps.jobs.queue,
    registry: host.deps.jobs.registry,
    deps: host.deps,
    pollMs: 20,
  });
  agent.start();
  try {
    return await host.waitJob(jobId);
  } finally {
    await agent.stop(1000);
  }
}

/** A channel that stops answering forever once step `idx` reports done: the process "died". */
function dyingChannel(real: JobChannel, idx: number): JobChannel & { isDead(): boolean } {
  let dead = false;
  const never = new Promise<never>(() => undefined);
  const guard =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    (...a: A): Promise<R> =>
      dead ? never : fn(...a);
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

/** The agent dies right after step `idx` did its work; a new agent resumes the job. */
export async function crashThenResume(host: Host, jobId: string, idx: number): Promise<JobView> {
  const q = host.deps.jobs.queue;
  const channel = dyingChannel(q, idx);
  const n = ++seq;
  const doomed = new Agent({
    identity: { hostId: "test", owner: `test:doomed-${n}` },
    channel,
    registry: host.deps.jobs.registry,
    deps: host.deps,
    pollMs: 20,
    leaseMs: 300,
    heartbeatMs: 100,
  });
  doomed.start();
  try {
    while (q.row(jobId).status === "queued") await Bun.sleep(20);
    for (let i = 0; !channel.isDead() || q.row(jobId).leaseExpiresAt! >= new Date().toISOString(); i++) {
      if (i > 9000)
        throw new Error(
          `never reached step ${idx}: ${JSON.stringify(q.view(jobId).steps.map((s) => [s.name, s.status]))}`,
        );
      await Bun.sleep(20);
    }
  } finally {
    void doomed.stop(0);
  }
  expect(q.recover()).toBe(1);
  return runJob(host, jobId);
}
