/**
 * Three hosts on this machine (issue 16, "Proven in CI"): a coordinator and two agents, each with
 * its own root, PostgreSQL cluster, nginx, docker name prefix and address on the loopback range
 * (test/support/fleet.ts). Through the coordinator's API: placement by label and by capacity
 * (and a refusal that says why), create/deploy/rollback on one agent, backup/restore on the
 * other; then the coordinator stops for 60 s while every agent env answers through its agent's
 * nginx on every poll and an agent's own scheduled backup runs; after the restart the hosts are
 * online again and the jobs and backups of the outage are on the coordinator.
 * `host add` through a real sshd is test/fleet/ssh/*; kill -9 of an agent mid-deploy is agent-kill-deploy.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import type { z } from "zod";
import { backups } from "../../src/db/backup.sql";
import type { BackupView } from "../../src/db/schema";
import type { DeployOutcome, DeploymentView } from "../../src/deploy/schema";
import type { EnvDetail } from "../../src/env/schema";
import type { HostViewSchema } from "../../src/fleet/schema";
import type { JobView } from "../../src/jobs/view";
import { openState } from "../../src/state/db";
import { makeRepo, type TestRepo } from "../git/repo";
import { type FleetAgent, startFleet } from "../support/fleet";
import { makeTempDir, removeTempDir } from "../support/tmp";

type HostView = z.infer<typeof HostViewSchema>;
const OUTAGE_MS = 60_000;
const manifest = (version: string) => `{'name': 'Shop extra', 'version': '${version}', 'depends': ['base']}\n`;

let fleet: Awaited<ReturnType<typeof startFleet>>;
let agentA: FleetAgent;
let agentB: FleetAgent;
let repo: TestRepo;
let repoDir: string;

beforeAll(async () => {
  repoDir = makeTempDir("odooops-fleet-repo-");
  repo = await makeRepo(repoDir);
  await repo.commit({ "shop_extra/__manifest__.py": manifest("1.0"), "README.md": "addons\n" });
  fleet = await startFleet({
    coordinatorAddress: "127.0.0.2",
    agents: [
      { name: "agent-a", address: "127.0.0.3", labels: { zone: "a" } },
      { name: "agent-b", address: "127.0.0.4", labels: { zone: "b" } },
    ],
    shared: {
      // Small disk needs: placement counts measured free disk, shared here by every test running.
      tiers: { dev: { cpus: 0.5, memoryMb: 512, storageGb: 1 }, staging: { cpus: 0.5, memoryMb: 512, storageGb: 1 } },
      deploy: { drainSec: 1, healthTimeoutSec: 30, install: ["shop_extra"] },
    },
    // Staging backs up every minute on the agents: the outage is sure to hold one of them.
    agentConfig: { backups: { schedules: { staging: "* * * * *", dev: "" } } },
  });
  [agentA, agentB] = [fleet.agents[0]!, fleet.agents[1]!];
  expect((await fleet.api("PUT", "/projects/default", { repoUrl: repo.url })).status).toBe(200);
  // The coordinator runs no envs here: placement chooses between the agents only.
  const hosts = await fleet.api<HostView[]>("GET", "/hosts");
  const own = hosts.body.find((h) => h.role === "coordinator")!;
  expect((await fleet.api("PUT", `/hosts/${own.name}/draining`, { draining: true })).status).toBe(200);
}, 300_000);

afterAll(async () => {
  await fleet?.cleanup();
  if (repoDir) removeTempDir(repoDir);
}, 180_000);

async function create(body: Record<string, unknown>): Promise<EnvDetail> {
  const res = await fleet.api<{ env: { slug: string }; job: JobView }>("POST", "/environments", body);
  expect({ status: res.status, ...(res.status !== 202 && { body: res.body }) }).toEqual({ status: 202 });
  const job = await fleet.waitJob(res.body.job.id);
  expect(job.error).toBeNull();
  return (await fleet.api<EnvDetail>("GET", `/environments/${res.body.env.slug}`)).body;
}

const health = async (agent: FleetAgent, env: EnvDetail) =>
  (await agent.get(env.domain, "/web/health?db_server_status=1")).status;

let byLabel: EnvDetail;
let byCapacity: EnvDetail;
let nightly: EnvDetail;

describe("placement through the coordinator", () => {
  test("--label puts the env on the host with it; without one, the host with the most free capacity wins", async () => {
    byLabel = await create({ name: "by-label", tier: "dev", labels: { zone: "b" } });
    expect(byLabel.host).toBe("agent-b");
    // agent-b now carries by-label's limits: the same-sized agent-a has more room.
    byCapacity = await create({ name: "by-capacity", tier: "dev" });
    expect(byCapacity.host).toBe("agent-a");
    expect(await health(agentB, byLabel)).toBe(200);
    expect(await health(agentA, byCapacity)).toBe(200);

    const refused = await fleet.api<{ error: { message: string } }>("POST", "/environments", {
      name: "nowhere",
      tier: "dev",
      labels: { zone: "c" },
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain("agent-a: no label zone=c");
    expect(refused.body.error.message).toContain("agent-b: no label zone=c");
  }, 300_000);
});

describe("env jobs on the agents through the coordinator", () => {
  test("deploy twice and roll back on agent-a; its nginx serves each release", async () => {
    const deploy = async (): Promise<DeploymentView> => {
      const res = await fleet.api<DeployOutcome>("POST", `/environments/${byCapacity.slug}/deployments`, {});
      expect(res.status).toBe(202);
      if (res.body.dryRun) throw new Error("unexpected dry run");
      const job = await fleet.waitJob(res.body.job.id, 300_000);
      expect(job.error).toBeNull();
      return (await fleet.api<DeploymentView>("GET", `/deployments/${res.body.deployment.id}`)).body;
    };
    const first = await deploy();
    expect(first.status).toBe("success");
    await repo.commit({ "README.md": "addons, second release\n" });
    const second = await deploy();
    expect(second.status).toBe("success");
    expect(await health(agentA, byCapacity)).toBe(200);

    const res = await fleet.api<{ deployment: DeploymentView; job: JobView }>(
      "POST",
      `/environments/${byCapacity.slug}/rollback`,
      { to: first.id, keepDb: true },
    );
    expect(res.status).toBe(202);
    expect((await fleet.waitJob(res.body.job.id)).error).toBeNull();
    expect(await health(agentA, byCapacity)).toBe(200);
    // The containers are agent-a's, under its prefix; agent-b runs none of this env's.
    const env = (await fleet.api<EnvDetail>("GET", `/environments/${byCapacity.slug}`)).body;
    expect(env.host).toBe("agent-a");
  }, 600_000);

  test("backup and restore on agent-b; the backup is listed on the coordinator", async () => {
    const b = await fleet.api<JobView>("POST", `/environments/${byLabel.slug}/backups`);
    expect(b.status).toBe(202);
    expect((await fleet.waitJob(b.body.id)).error).toBeNull();
    const list = (await fleet.api<BackupView[]>("GET", `/environments/${byLabel.slug}/backups`)).body;
    const done = list.filter((x) => x.status === "completed");
    expect(done).toHaveLength(1);
    const r = await fleet.api<{ job: JobView }>("POST", `/environments/${byLabel.slug}/db/restore`, {
      backup: done[0]!.id,
    });
    expect(r.status).toBe(202);
    expect((await fleet.waitJob(r.body.job.id)).error).toBeNull();
    expect(await health(agentB, byLabel)).toBe(200);
  }, 300_000);
});

describe("the coordinator stopped for 60 s", () => {
  test("the agents' envs answer on every poll, agent-a's scheduled backup runs, all reconciles after", async () => {
    nightly = await create({ name: "nightly", tier: "staging", host: "agent-a" });
    expect(nightly.host).toBe("agent-a");
    const polled: [FleetAgent, EnvDetail][] = [
      [agentA, byCapacity],
      [agentA, nightly],
      [agentB, byLabel],
    ];

    await fleet.stopCoordinator();
    const outageStart = new Date().toISOString();
    const failures: string[] = [];
    let polls = 0;
    const until = Date.now() + OUTAGE_MS;
    // Bounded: at most one round per 250 ms over the outage, whatever the clock does.
    for (let round = 0; round < OUTAGE_MS / 250 && Date.now() < until; round++) {
      for (const [agent, env] of polled) {
        polls++;
        try {
          const status = await health(agent, env);
          if (status !== 200) failures.push(`${env.slug}: ${status}`);
        } catch (e) {
          failures.push(`${env.slug}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      await Bun.sleep(250);
    }
    expect(failures).toEqual([]);
    expect(polls).toBeGreaterThan(polled.length);

    // Agent-a's own clock backed nightly up while nobody could ask it to.
    const local = agentA.daemon.local;
    const during = () =>
      local.queue
        .list({ kind: "db.backup", limit: 100 })
        .filter((j) => j.target === nightly.slug && j.createdAt >= outageStart);
    for (let i = 0; !during().some((j) => j.status === "succeeded"); i++) {
      if (i > 1200) throw new Error(`no scheduled backup ran during the outage: ${JSON.stringify(during())}`);
      await Bun.sleep(100);
    }
    expect(local.outbox.pending().length).toBeGreaterThan(0);

    await fleet.restartCoordinator();
    for (let i = 0; local.outbox.pending().length > 0; i++) {
      if (i > 1800) throw new Error("agent-a's reports never reached the coordinator");
      await Bun.sleep(100);
    }
    // Every backup agent-a made of nightly, completed there, is the coordinator's too, and so is its job.
    const agentDb = openState(agentA.daemon.paths.stateDb);
    const made = agentDb
      .select()
      .from(backups)
      .where(eq(backups.envId, nightly.id))
      .all()
      .filter((b) => b.status === "completed");
    agentDb.$client.close();
    const listed = (await fleet.api<BackupView[]>("GET", `/environments/${nightly.slug}/backups`)).body;
    const byId = new Map(listed.map((b) => [b.id, b]));
    for (const b of made) expect(byId.get(b.id)).toMatchObject({ kind: "scheduled", status: "completed" });
    const succeeded = during().filter((j) => j.status === "succeeded");
    for (const j of succeeded) {
      const onCoordinator = await fleet.api<JobView>("GET", `/jobs/${j.id}`);
      expect(onCoordinator.body).toMatchObject({ status: "succeeded", kind: "db.backup", target: nightly.slug });
    }

    // Both agents heartbeat again; their envs still answer.
    for (let i = 0; ; i++) {
      const hosts = (await fleet.api<HostView[]>("GET", "/hosts")).body;
      const agents = hosts.filter((h) => h.role === "agent");
      if (agents.length === 2 && agents.every((h) => h.status === "online")) break;
      if (i > 1200) throw new Error(`agents not back online: ${JSON.stringify(agents.map((h) => [h.name, h.status]))}`);
      await Bun.sleep(100);
    }
    for (const [agent, env] of polled) expect(await health(agent, env)).toBe(200);
  }, 400_000);
});
