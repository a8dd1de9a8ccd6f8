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

describe("dr test on another host", () => {
  test("an env on the coordinator is tested on the agent; the report names it; nothing is left there", async () => {
    await waitForInventory([hostname(), "dr-agent"]);
    const created = await fleet.api<{ env: { id: string; slug: string }; job: JobView }>("POST", "/environments", {
      name: "drh-shop",
      tier: "dev",
      host: hostname(),
    });
    expect(created.status).toBe(202);
    expect((await fleet.waitJob(created.body.job.id)).error).toBeNull();
    const { slug, id: envId } = created.body.env;
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
});
