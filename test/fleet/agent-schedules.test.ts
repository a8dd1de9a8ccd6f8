/**
 * Who backs up an env placed on an agent: its agent, never the coordinator (so a backup never
 * runs twice), and the report of the job the agent ran by itself — pure decisions, the outbox on
 * disk, the key gate between an agent's two runners, and the coordinator's agent API taking a
 * report against real state: adopted once, refused (and nothing written) for another host's env,
 * a kind an agent does not start by itself, or a backup row of another env.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { reportRefused } from "../../src/daemon/agent-local";
import { backups } from "../../src/db/backup.sql";
import { enqueueScheduledBackups } from "../../src/db/schedule";
import { environments, projects } from "../../src/env/env.sql";
import { Outbox } from "../../src/daemon/outbox";
import { agentBackupPlan } from "../../src/db/schedule-owner";
import { placedOnAgent } from "../../src/env/placed-on-agent";
import type { AgentJobReport } from "../../src/fleet/schema";
import { KeyGate } from "../../src/jobs/key-gate";
import { jobs } from "../../src/jobs/jobs.sql";
import { type ClientCoordinator, insertEnv, startClientCoordinator } from "../support/fleet-api";
import { makeTempDir, removeTempDir } from "../support/tmp";

describe("whose clock backs an env up", () => {
  test("the coordinator keeps its own and unplaced envs; an agent's env is its agent's", () => {
    expect(placedOnAgent(null, "coord")).toBe(false);
    expect(placedOnAgent("coord", "coord")).toBe(false);
    expect(placedOnAgent("agent-1", "coord")).toBe(true);
    // Standalone without a host row: every placed env is someone else's.
    expect(placedOnAgent(null, null)).toBe(false);
  });

  test("an agent backs up its active envs of a due tier, except one whose backup still runs", () => {
    const env = (id: string, over: Partial<Parameters<typeof agentBackupPlan>[0][number]> = {}) => ({
      id,
      slug: `s-${id}`,
      tier: "production" as const,
      status: "active" as const,
      hostId: "me",
      ...over,
    });
    const envs = [
      env("a"),
      env("b", { hostId: "other" }),
      env("c", { status: "stopped" }),
      env("d", { tier: "dev" }),
      env("e"),
      env("f", { tier: "staging" }),
    ];
    const plan = agentBackupPlan(envs, "me", ["production", "staging"], new Set(["e"]));
    expect(plan.backup.map((e) => e.id)).toEqual(["a", "f"]);
    expect(plan.busy).toEqual(["s-e"]);
    expect(agentBackupPlan(envs, "me", [], new Set())).toEqual({ backup: [], busy: [] });
  });

  test("a refusal the coordinator would repeat is final; unreachable, 5xx, 401 and 404 are tried again", () => {
    expect([400, 403, 413, 422].map(reportRefused)).toEqual([true, true, true, true]);
    expect([401, 404, 409, 500, 502, 503].map(reportRefused)).toEqual([false, false, false, false, false, false]);
  });
});

describe("the key gate between an agent's two runners", () => {
  test("holders of one key run one after the other, in order; other keys do not wait", async () => {
    const gate = new KeyGate();
    const order: string[] = [];
    const first = await gate.acquire("env-1");
    const second = gate.acquire("env-1").then((release) => {
      order.push("second");
      release();
    });
    const other = await gate.acquire("env-2");
    order.push("other");
    other();
    await Bun.sleep(5);
    expect(order).toEqual(["other"]);
    first();
    await second;
    expect(order).toEqual(["other", "second"]);
    // Released by all: a new holder gets it at once.
    (await gate.acquire("env-1"))();
  });
});

const report = (over: Partial<AgentJobReport["job"]>, state?: AgentJobReport["state"]): AgentJobReport => ({
  job: {
    id: Bun.randomUUIDv7(),
    kind: "db.backup",
    lockKey: "env",
    target: "x",
    status: "succeeded",
    params: {},
    result: null,
    error: null,
    attempts: 1,
    createdBy: "scheduler",
    odooopsVersion: "0.1.0",
    createdAt: "2026-01-01T00:00:00.000Z",
    startedAt: "2026-01-01T00:00:01.000Z",
    finishedAt: "2026-01-01T00:00:09.000Z",
    ...over,
  },
  steps: [
    {
      idx: 0,
      name: "dump",
      title: "Backing up",
      status: "done",
      output: null,
      error: null,
      startedAt: "2026-01-01T00:00:01.000Z",
      finishedAt: "2026-01-01T00:00:08.000Z",
      durationMs: 7000,
    },
  ],
  ...(state && { state }),
});

describe("the outbox", () => {
  test("reports wait as files, oldest first, until taken or refused; half-written files are not listed", () => {
    const root = makeTempDir("odooops-outbox-");
    try {
      const box = new Outbox({ dataDir: root });
      expect(box.pending()).toEqual([]);
      const a = report({ id: "0001" });
      const b = report({ id: "0002" });
      box.put(b);
      box.put(a);
      writeFileSync(join(box.dir, ".0003.json.init-1-2"), "{");
      expect(box.pending()).toEqual(["0001", "0002"]);
      expect(box.read("0001")).toEqual(a);
      box.taken("0001");
      box.refused("0002");
      expect(box.pending()).toEqual([]);
      expect(readdirSync(box.dir).sort()).toEqual([".0003.json.init-1-2", "0002.refused"]);
    } finally {
      removeTempDir(root);
    }
  });
});

describe("the coordinator takes an agent's job reports", () => {
  let t: ClientCoordinator["t"];
  let client: ClientCoordinator["client"];
  let hostA: { hostId: string; credential: string };
  let hostB: { hostId: string; credential: string };
  let onA: typeof environments.$inferSelect;
  let onB: typeof environments.$inferSelect;
  let local: typeof environments.$inferSelect;

  beforeAll(async () => {
    const coordinator = await startClientCoordinator();
    ({ t, client } = coordinator);
    hostA = await coordinator.joinHost("sched-a");
    hostB = await coordinator.joinHost("sched-b");
    const project = t.deps.db.insert(projects).values({ name: "p-sched" }).returning().get();
    const env = (name: string, hostId: string | null) =>
      insertEnv(t.deps.db, project.id, name, hostId, { tier: "production" });
    onA = env("sched-on-a", hostA.hostId);
    onB = env("sched-on-b", hostB.hostId);
    local = env("sched-local", t.deps.fleet.localHostId);
  });
  afterAll(() => t.cleanup());

  const backupOf = (envId: string, id = Bun.randomUUIDv7()) => ({
    id,
    set: {
      envId,
      kind: "scheduled" as const,
      status: "completed" as const,
      dbName: "odoo_x",
      sizeBytes: 1234,
      localPath: "/backups/x",
      s3Key: null,
      manifest: null,
      error: null,
      createdAt: "2026-01-01T00:00:00.000Z",
      finishedAt: "2026-01-01T00:00:09.000Z",
      expiresAt: null,
    },
  });
  const jobCount = () => t.deps.db.select().from(jobs).all().length;
  const backupCount = () => t.deps.db.select().from(backups).all().length;

  test("the coordinator's backup schedule leaves the envs placed on agents to them", () => {
    const r = enqueueScheduledBackups(t.deps, ["production"]);
    expect(r.enqueued).toEqual(["sched-local"]);
    expect(r.failed).toEqual([]);
    const queued = t.deps.db.select().from(jobs).where(eq(jobs.kind, "db.backup")).all();
    expect(queued.map((j) => j.lockKey)).toEqual([local.id]);
    t.deps.jobs.queue.cancel(queued[0]!.id);
  });

  test("a scheduled backup run on agent A: its job and backup row are adopted once", async () => {
    const backup = backupOf(onA.id);
    const r = report(
      { lockKey: onA.id, params: { envId: onA.id, slug: onA.slug, backupId: backup.id } },
      { environments: [], deployments: [], backups: [backup] },
    );
    expect(await client(hostA.credential).post("/jobs/reports", r)).toEqual({ adopted: true });
    const job = t.deps.jobs.queue.view(r.job.id);
    expect(job).toMatchObject({ status: "succeeded", kind: "db.backup", target: onA.slug });
    expect(job.steps.map((s) => [s.name, s.status])).toEqual([["dump", "done"]]);
    expect(t.deps.jobs.queue.row(r.job.id).hostId).toBe(hostA.hostId);
    const row = t.deps.db.select().from(backups).where(eq(backups.id, backup.id)).get();
    expect(row).toMatchObject({ envId: onA.id, status: "completed", kind: "scheduled", sizeBytes: 1234 });
    // Sent again (its answer was lost): taken the first time, nothing written twice.
    const [jobsBefore, backupsBefore] = [jobCount(), backupCount()];
    expect(await client(hostA.credential).post("/jobs/reports", r)).toEqual({ adopted: false });
    expect([jobCount(), backupCount()]).toEqual([jobsBefore, backupsBefore]);
  });

  test("refused, with nothing written: another host's env, a backup row of another env, another kind, no credential", async () => {
    const [jobsBefore, backupsBefore] = [jobCount(), backupCount()];
    const asA = client(hostA.credential);
    const onBsEnv = report({ lockKey: onB.id, params: { envId: onB.id, slug: onB.slug, backupId: "b1" } });
    await expect(asA.post("/jobs/reports", onBsEnv)).rejects.toThrow(/not placed on host sched-a/);
    const smuggled = report(
      { lockKey: onA.id, params: { envId: onA.id, slug: onA.slug, backupId: "b2" } },
      { environments: [], deployments: [], backups: [backupOf(onB.id)] },
    );
    await expect(asA.post("/jobs/reports", smuggled)).rejects.toThrow(/not placed on this agent's host/);
    const mismatched = report({ lockKey: onA.id, params: { envId: onB.id, slug: onB.slug, backupId: "b3" } });
    await expect(asA.post("/jobs/reports", mismatched)).rejects.toThrow(/not placed on host sched-a/);
    const deploy = report({ kind: "deploy", lockKey: onA.id, params: { envId: onA.id, slug: onA.slug } });
    await expect(asA.post("/jobs/reports", deploy)).rejects.toThrow(/starts no deploy job by itself/);
    const ok = report({ lockKey: onA.id, params: { envId: onA.id, slug: onA.slug, backupId: "b4" } });
    await expect(client(null).post("/jobs/reports", ok)).rejects.toThrow();
    await expect(client("not-a-credential").post("/jobs/reports", ok)).rejects.toThrow();
    expect([jobCount(), backupCount()]).toEqual([jobsBefore, backupsBefore]);
  });
});
