/**
 * An agent keeps its env backed up while the coordinator is down. The coordinator's own schedule
 * leaves the env to its agent (no backup runs twice); with the coordinator stopped, the agent's
 * clock comes due (ticked by hand, as test/db/schedule.test.ts does), the backup runs on the
 * agent, and its report waits in the agent's outbox; when the coordinator is back the agent
 * hands it over by itself: the job and the completed backup are the coordinator's.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { eq } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import { enqueueScheduledBackups } from "../../src/db/schedule";
import type { BackupView } from "../../src/db/schema";
import type { JobView } from "../../src/jobs/view";
import { openState } from "../../src/state/db";
import { type FleetAgent, startFleet } from "../support/fleet";

let fleet: Awaited<ReturnType<typeof startFleet>>;
let agent: FleetAgent;

beforeAll(async () => {
  fleet = await startFleet({
    coordinatorAddress: "127.0.0.1",
    agents: [{ name: "offline-agent", address: "127.0.0.1" }],
    shared: { tiers: { dev: { cpus: 0.5, memoryMb: 512 } } },
    // Hourly for dev on the agent: its clock, moved an hour on, comes due.
    agentConfig: { backups: { schedules: { dev: "0 * * * *" } } },
  });
  agent = fleet.agents[0]!;
}, 240_000);

afterAll(async () => {
  await fleet?.cleanup();
}, 120_000);

test("the agent's scheduled backup runs while the coordinator is down and is reported when it is back", async () => {
  const created = await fleet.api<{ env: { id: string; slug: string }; job: JobView }>("POST", "/environments", {
    name: "offline-shop",
    tier: "dev",
    host: "offline-agent",
  });
  expect(created.status).toBe(202);
  const { slug, id: envId } = created.body.env;
  expect((await fleet.waitJob(created.body.job.id)).error).toBeNull();

  // The coordinator's clock leaves this env to its agent, even for a due tier.
  const coordDeps = fleet.coordinator().deps;
  expect(enqueueScheduledBackups(coordDeps, ["dev"]).enqueued).toEqual([]);

  await fleet.stopCoordinator();
  const local = agent.daemon.local;
  const due = local.tick(new Date(Date.now() + 3_600_000));
  expect(due.enqueued).toEqual([slug]);
  const [job] = local.queue.list({ kind: "db.backup", limit: 10 });
  expect(job).toBeDefined();
  for (let i = 0; !["succeeded", "failed", "cancelled"].includes(local.queue.row(job!.id).status); i++) {
    if (i > 1200) throw new Error(`local backup still ${local.queue.row(job!.id).status}`);
    await Bun.sleep(100);
  }
  expect(local.queue.row(job!.id)).toMatchObject({ status: "succeeded", error: null });
  // Nobody to tell yet: the report waits on disk.
  expect(local.outbox.pending()).toEqual([job!.id]);
  const agentDb = openState(agent.daemon.paths.stateDb);
  const made = agentDb.select().from(backups).where(eq(backups.envId, envId)).all();
  agentDb.$client.close();
  expect(made.map((b) => [b.kind, b.status])).toEqual([["scheduled", "completed"]]);
  expect(existsSync(made[0]!.localPath!)).toBe(true);

  await fleet.restartCoordinator();
  // The agent reconnects with backoff and hands the report over without being asked.
  for (let i = 0; local.outbox.pending().length; i++) {
    if (i > 1200) throw new Error("the report never reached the coordinator");
    await Bun.sleep(100);
  }
  const onCoordinator = await fleet.api<JobView>("GET", `/jobs/${job!.id}`);
  expect(onCoordinator.status).toBe(200);
  expect(onCoordinator.body).toMatchObject({ status: "succeeded", kind: "db.backup", target: slug });
  expect(onCoordinator.body.steps.map((s) => s.status)).toEqual(["done", "done"]);
  const list = await fleet.api<BackupView[]>("GET", `/environments/${slug}/backups`);
  expect(list.body.map((b) => [b.id, b.kind, b.status])).toEqual([[made[0]!.id, "scheduled", "completed"]]);
}, 300_000);
