/**
 * `dr test` of an env on the coordinator runs on the other host of the fleet: a real coordinator
 * (which runs envs itself) and an agent daemon, each with its own root, PostgreSQL, nginx and
 * docker prefix, sharing one S3 target (a private s3rver). The env's backup goes to S3 on the
 * coordinator; the test's job is leased by the agent, which reads the backup from S3 (checked
 * against the state's manifest), restores and boots it on a throwaway network, checks its
 * health and removes everything; the coordinator records the result from the agent's finish,
 * naming the agent. The env itself is never touched.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import { SCRATCH_PREFIX } from "../../src/db/copies/names";
import { drTests } from "../../src/dr/dr-tests.sql";
import { environments } from "../../src/env/env.sql";
import type { JobView } from "../../src/jobs/view";
import { openS3 } from "../../src/host/s3/client";
import { type FleetAgent, startFleet } from "../support/fleet";
import { startS3, type TestS3 } from "../support/s3";
import { randomSuffix } from "../support/tmp";

let s3: TestS3;
let fleet: Awaited<ReturnType<typeof startFleet>>;
let agent: FleetAgent;

beforeAll(async () => {
  s3 = await startS3();
  const target = await s3.target(`drh-${randomSuffix()}`, { prefix: "odooops" });
  fleet = await startFleet({
    coordinatorAddress: "127.0.0.1",
    agents: [{ name: "dr-agent", address: "127.0.0.1" }],
    shared: { tiers: { dev: { cpus: 0.5, memoryMb: 512 } }, backups: { s3: target } },
  });
  agent = fleet.agents[0]!;
}, 240_000);

afterAll(async () => {
  await fleet?.cleanup();
  await s3?.destroy();
}, 120_000);

async function docker(...args: string[]): Promise<string[]> {
  const p = Bun.spawn(["docker", ...args], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  expect(await p.exited).toBe(0);
  return out.split("\n").filter((l) => l.length > 0);
}

/** Hosts appear with their inventory after their first heartbeat; placement needs it. */
async function waitForInventory(names: string[]): Promise<void> {
  for (let i = 0; ; i++) {
    const { body } = await fleet.api<{ name: string; status: string; inventory: unknown }[]>("GET", "/hosts");
    const ready = body.filter((h) => h.status === "online" && h.inventory !== null).map((h) => h.name);
    if (names.every((n) => ready.includes(n))) return;
    if (i > 300) throw new Error(`hosts ${names.join(", ")} never all reported an inventory: ${ready}`);
    await Bun.sleep(200);
  }
}

/** Nothing of a DR test left on the agent: container, network, scratch database and role, scratch dir. */
async function nothingLeftOnAgent(): Promise<void> {
  const ours = (names: string[]) => names.filter((n) => n.startsWith(`${agent.prefix}-`) && n.includes("drtest"));
  expect(ours(await docker("ps", "-a", "--format", "{{.Names}}"))).toEqual([]);
  expect(ours(await docker("network", "ls", "--format", "{{.Name}}"))).toEqual([]);
  const leftovers = await agent.pg.query("postgres", async (sql) => {
    const like = `${SCRATCH_PREFIX}%`;
    const [dbs] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE ${like}`;
    const [roles] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_roles WHERE rolname LIKE ${like}`;
    return { dbs: dbs?.n, roles: roles?.n };
  });
  expect(leftovers).toEqual({ dbs: 0, roles: 0 });
}

interface Report {
  id: string;
  env: string;
  outcome: string;
  failedStep: string | null;
  reason: string | null;
  host: string | null;
  hostReason: string | null;
  rtoMs: number | null;
  rpoSec: number | null;
}

async function runDrTest(body: { env: string; host?: string }) {
  const started = await fleet.api<{
    started: { drTestId: string; host: string; hostReason: string | null; job: JobView }[];
  }>("POST", "/dr/tests", body);
  expect(started.status).toBe(202);
  const s = started.body.started[0]!;
  const job = await fleet.waitJob(s.job.id);
  const reports = await fleet.api<{ tests: Report[] }>("GET", `/dr/tests?env=${body.env}`);
  return { ...s, job, report: reports.body.tests.find((t) => t.id === s.drTestId) };
}

describe("dr test on another host", () => {
  let slug = "";
  test("an env on the coordinator is tested on the agent; the report names it; nothing is left there", async () => {
    await waitForInventory([hostname(), "dr-agent"]);
    const created = await fleet.api<{ env: { id: string; slug: string }; job: JobView }>("POST", "/environments", {
      name: "drh-shop",
      tier: "dev",
      host: hostname(),
    });
    expect(created.status).toBe(202);
    expect((await fleet.waitJob(created.body.job.id)).error).toBeNull();
    slug = created.body.env.slug;
    const envId = created.body.env.id;
    const b = await fleet.api<JobView>("POST", `/environments/${slug}/backups`);
    expect(b.status).toBe(202);
    expect((await fleet.waitJob(b.body.id)).error).toBeNull();
    const coord = fleet.coordinator().deps;
    const backup = coord.db.select().from(backups).where(eq(backups.envId, envId)).get()!;
    expect(backup.s3Key).not.toBeNull();
    const envBefore = coord.db.select().from(environments).where(eq(environments.id, envId)).get()!;

    const started = await fleet.api<{
      started: { drTestId: string; host: string; hostReason: string | null; job: JobView }[];
    }>("POST", "/dr/tests", { env: slug });
    expect(started.status).toBe(202);
    const s = started.body.started[0]!;
    expect({ host: s.host, hostReason: s.hostReason }).toEqual({ host: "dr-agent", hostReason: null });
    expect(coord.jobs.queue.row(s.job.id).hostId).toBe(agent.daemon.hostId);

    const job = await fleet.waitJob(s.job.id);
    const log = await fleet.api<{ text: string }>("GET", `/jobs/${s.job.id}/log`);
    expect({ status: job.status, error: job.error }).toEqual({ status: "succeeded", error: null });
    // Booted on the agent, under its docker prefix, on the throwaway network.
    expect(log.body.text).toContain(`as ${agent.prefix}-${slug}-init-drtest on 127.0.0.1:`);

    const reports = await fleet.api<{
      tests: {
        id: string;
        env: string;
        outcome: string;
        host: string | null;
        hostReason: string | null;
        rtoMs: number | null;
        rpoSec: number | null;
      }[];
    }>("GET", `/dr/tests?env=${slug}`);
    expect(reports.body.tests[0]).toMatchObject({
      id: s.drTestId,
      env: slug,
      outcome: "passed",
      host: "dr-agent",
      hostReason: null,
    });
    expect(reports.body.tests[0]!.rtoMs).toBeGreaterThan(0);
    expect(reports.body.tests[0]!.rpoSec).toBeGreaterThanOrEqual(0);
    expect(coord.db.select().from(drTests).where(eq(drTests.id, s.drTestId)).get()?.hostId).toBe(agent.daemon.hostId);

    // Gone from the agent: container, network, scratch database and role, the env's dir.
    expect(
      (await docker("ps", "-a", "--format", "{{.Names}}")).filter((n) => n.startsWith(`${agent.prefix}-`)),
    ).toEqual([]);
    expect(
      (await docker("network", "ls", "--format", "{{.Name}}")).filter((n) => n.startsWith(`${agent.prefix}-`)),
    ).toEqual([]);
    const leftovers = await agent.pg.query("postgres", async (sql) => {
      const dbs = await sql<
        { n: number }[]
      >`SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE ${`${SCRATCH_PREFIX}%`}`;
      const roles = await sql<
        { n: number }[]
      >`SELECT count(*)::int AS n FROM pg_roles WHERE rolname LIKE ${`${SCRATCH_PREFIX}%`}`;
      return { dbs: dbs[0]!.n, roles: roles[0]!.n };
    });
    expect(leftovers).toEqual({ dbs: 0, roles: 0 });
    expect(existsSync(join(agent.daemon.paths.envsDir, slug))).toBe(false);

    // The env on the coordinator is as it was, and still serves.
    const envAfter = coord.db.select().from(environments).where(eq(environments.id, envId)).get()!;
    expect({ status: envAfter.status, container: envAfter.containerName, hostId: envAfter.hostId }).toEqual({
      status: envBefore.status,
      container: envBefore.containerName,
      hostId: envBefore.hostId,
    });
  }, 400_000);
  test("a manifest altered in the bucket fails the test at verify on the agent, recorded so; nothing left there", async () => {
    const coord = fleet.coordinator().deps;
    const envId = coord.db.select().from(environments).where(eq(environments.slug, slug)).get()!.id;
    const row = coord.db.select().from(backups).where(eq(backups.envId, envId)).get()!;
    const store = await openS3(coord.config.backups.s3!);
    try {
      const key = `${row.s3Key}manifest.json`;
      const m = JSON.parse(new TextDecoder().decode(await store.getBytes(key))) as {
        rowCounts: Record<string, number>;
      };
      m.rowCounts.res_partner = 12_345;
      await store.put(key, JSON.stringify(m), "application/json");
    } finally {
      store.close();
    }
    const r = await runDrTest({ env: slug });
    expect(r.host).toBe("dr-agent");
    expect(r.job.status).toBe("failed");
    expect(r.report).toMatchObject({ outcome: "failed", failedStep: "verify", host: "dr-agent", rtoMs: null });
    expect(r.report?.reason).toContain("differs from the one recorded when the backup was made");
    expect(r.report?.rpoSec).toBeGreaterThanOrEqual(0);
    await nothingLeftOnAgent();
    expect(existsSync(join(agent.daemon.paths.envsDir, slug))).toBe(false);
  }, 300_000);

  test("an env on the agent, tested there by --host: recorded from the agent's finish", async () => {
    const created = await fleet.api<{ env: { id: string; slug: string }; job: JobView }>("POST", "/environments", {
      name: "drh-agent-shop",
      tier: "dev",
      host: "dr-agent",
    });
    expect(created.status).toBe(202);
    expect((await fleet.waitJob(created.body.job.id)).error).toBeNull();
    const own = created.body.env.slug;
    const b = await fleet.api<JobView>("POST", `/environments/${own}/backups`);
    expect((await fleet.waitJob(b.body.id)).error).toBeNull();
    const r = await runDrTest({ env: own, host: "dr-agent" });
    expect({ host: r.host, hostReason: r.hostReason, status: r.job.status, error: r.job.error }).toEqual({
      host: "dr-agent",
      hostReason: null,
      status: "succeeded",
      error: null,
    });
    expect(r.report).toMatchObject({ outcome: "passed", failedStep: null, host: "dr-agent" });
    expect(r.report?.rtoMs).toBeGreaterThan(0);
    await nothingLeftOnAgent();
    // The env's own network is still there: only the test's throwaway pieces went.
    expect(await docker("network", "ls", "--format", "{{.Name}}")).toContain(`${agent.prefix}-${own}`);
  }, 400_000);
});
