/**
 * A real agent daemon finishes a leased job while its coordinator is stopped: the finish waits
 * in the agent's `state/outbox/leased/`, and when the coordinator is back the agent hands it over
 * before leasing anything; the coordinator takes it as how the job ran — the job ran once, not
 * again after its lease expired.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { LeasedOutbox } from "../../src/daemon/outbox";
import { defineJob, type StepContext } from "../../src/jobs/define";
import { type FleetAgent, startFleet } from "../support/fleet";
import { until } from "../support/wait";

const dir = mkdtempSync(join(tmpdir(), "odooops-late-"));
const runs = join(dir, "runs");
appendFileSync(runs, "");
let release: () => void = () => undefined;
const gate = new Promise<void>((resolve) => {
  release = resolve;
});
const probe = defineJob<{ key: string }>({
  kind: "late-real-probe",
  params: z.object({ key: z.string() }),
  lockKey: (p) => p.key,
  target: (p) => p.key,
  steps: [
    {
      name: "one",
      title: "Step one",
      async run(ctx: StepContext<{ key: string }>) {
        appendFileSync(runs, `${ctx.params.key} one\n`);
        await gate;
      },
    },
    {
      name: "two",
      title: "Step two",
      async run(ctx: StepContext<{ key: string }>) {
        appendFileSync(runs, `${ctx.params.key} two\n`);
        ctx.log("two ran while the coordinator was away");
      },
    },
  ],
});

let fleet: Awaited<ReturnType<typeof startFleet>>;
let agent: FleetAgent;

beforeAll(async () => {
  fleet = await startFleet({
    coordinatorAddress: "127.0.0.1",
    agents: [{ name: "late-agent", address: "127.0.0.1" }],
    agentJobs: [probe],
  });
  agent = fleet.agents[0]!;
}, 240_000);

afterAll(async () => {
  release();
  await fleet?.cleanup();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

test("the job's finish is reported when the coordinator is back, and the job runs once", async () => {
  const key = `late-${Bun.randomUUIDv7().slice(-8)}`;
  const job = fleet.coordinator().deps.jobs.queue.enqueue({
    kind: probe.kind,
    params: { key },
    lockKey: key,
    target: key,
    steps: probe.steps.map((s) => ({ name: s.name, title: s.title })),
    createdBy: "test",
    hostId: agent.daemon.hostId,
  });
  await until("step one to start on the agent", async () => readFileSync(runs, "utf8").includes(`${key} one`), 60_000);

  await fleet.stopCoordinator();
  release();
  const outbox = new LeasedOutbox(agent.daemon.paths);
  await until("the finish to wait on the agent's disk", async () => outbox.pending().includes(job.id), 60_000);

  await fleet.restartCoordinator();
  const ended = await fleet.waitJob(job.id, 120_000);
  expect(ended.status).toBe("succeeded");
  expect(ended.steps.map((s) => s.status)).toEqual(["done", "done"]);
  expect(readFileSync(runs, "utf8").match(new RegExp(`${key} (one|two)`, "g"))).toEqual([`${key} one`, `${key} two`]);
  expect(outbox.pending()).toEqual([]);
  const log = fleet.coordinator().deps.jobs.logs.read(job.id, 0).text;
  expect(log).toContain("two ran while the coordinator was away");
  expect(log).toContain("host late-agent ran the job while the coordinator was away");
}, 240_000);
