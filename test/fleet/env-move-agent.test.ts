/**
 * `env move` off an agent host (issue 16): a coordinator that runs envs itself and one agent,
 * each with its own root, PostgreSQL, nginx and docker prefix (test/support/fleet.ts), sharing
 * one S3 target (a private s3rver), and a second agent. The fresh backup runs on the agent, the
 * copy is made on the coordinator (or the other agent), and the agent tears its copy down after
 * the switch. While the copy is made the
 * env row still names the agent, which keeps serving; a move whose target cannot start the env
 * leaves the agent serving and nothing on the coordinator.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import type { z } from "zod";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources, LABEL_ENV } from "../../src/env/resources";
import type { EnvDetail } from "../../src/env/schema";
import { run } from "../../src/exec/run";
import type { HostViewSchema, MoveEnvResponse } from "../../src/fleet/schema";
import type { JobView } from "../../src/jobs/view";
import { type FleetAgent, startFleet } from "../support/fleet";
import type { TestNginx } from "../support/nginx";
import type { TestPostgres } from "../support/postgres";
import { startS3, type TestS3 } from "../support/s3";
import { randomSuffix } from "../support/tmp";

type HostView = z.infer<typeof HostViewSchema>;

let s3: TestS3;
let fleet: Awaited<ReturnType<typeof startFleet>>;
let agent: FleetAgent;
let agentB: FleetAgent;
let coordName: string;

/**
 * Every host online (heartbeat younger than 3 s). On this shared machine a busy minute can make
 * a 1 s heartbeat late, and placement then refuses the host: these tests are about moves, so a
 * request refused for that alone waits for the heartbeat and is asked again.
 */
async function whenOnline(): Promise<string> {
  const until = Date.now() + 120_000;
  for (;;) {
    const { body } = await fleet.api<HostView[]>("GET", "/hosts");
    const ready = body.filter((h) => h.status === "online" && h.inventory !== null);
    coordName = body.find((h) => h.role === "coordinator")?.name ?? "";
    if (ready.length === body.length) return coordName;
    if (Date.now() > until) throw new Error(`not every host is online with an inventory: ${JSON.stringify(body)}`);
    await Bun.sleep(200);
  }
}

async function placed<T>(method: string, path: string, body: unknown): Promise<{ status: number; body: T }> {
  for (let attempt = 0; ; attempt++) {
    await whenOnline();
    const res = await fleet.api<T & { error?: { message: string } }>(method, path, body);
    const late = res.status === 409 && res.body.error?.message.includes("offline since");
    if (!late || attempt === 5) return res;
  }
}

beforeAll(async () => {
  s3 = await startS3();
  const target = await s3.target(`mva-${randomSuffix()}`, { prefix: "odooops" });
  fleet = await startFleet({
    coordinatorAddress: "127.0.0.8",
    agents: [
      { name: "mva-agent", address: "127.0.0.9" },
      { name: "mva-agent-b", address: "127.0.0.10" },
    ],
    shared: {
      tiers: { dev: { cpus: 0.5, memoryMb: 512, storageGb: 1 } },
      backups: { s3: target, schedules: { dev: "" } },
    },
  });
  [agent, agentB] = [fleet.agents[0]!, fleet.agents[1]!];
  // Placement needs each host's inventory: its first heartbeat with one.
  await whenOnline();
}, 300_000);

afterAll(async () => {
  await Promise.allSettled([fleet?.cleanup()]);
  await Promise.allSettled([s3?.destroy()]);
}, 180_000);

const envRow = (id: string): Environment =>
  fleet.coordinator().deps.db.select().from(environments).where(eq(environments.id, id)).get()!;

async function create(name: string, host: string): Promise<Environment> {
  const res = await placed<{ env: { id: string }; job: JobView }>("POST", "/environments", { name, tier: "dev", host });
  expect({ status: res.status, ...(res.status !== 202 && { body: res.body }) }).toEqual({ status: 202 });
  expect((await fleet.waitJob(res.body.job.id)).error).toBeNull();
  return envRow(res.body.env.id);
}

/** The partners' rows, independent of the product: what a move must carry over byte for byte. */
const partnerSum = (pg: TestPostgres, db: string) =>
  pg.query(db, async (sql) => {
    const [r] = await sql<{ sum: string; n: number }[]>`
      SELECT md5(string_agg(concat_ws('|', id, name, email), ',' ORDER BY id)) AS sum, count(*)::int AS n FROM res_partner`;
    return r!;
  });

const databases = (pg: TestPostgres, env: Environment) =>
  pg.query("postgres", async (sql) =>
    (await sql<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE ${`${env.dbName}%`}`).map(
      (r) => r.datname,
    ),
  );

/** The env's containers on one host: both hosts share this machine's docker daemon, told apart by prefix. */
async function containers(env: Environment, namePrefix: string): Promise<string[]> {
  const r = await run({
    argv: ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", `label=${LABEL_ENV}=${env.id}`],
  });
  return r.stdout.split("\n").filter((n) => n.startsWith(`${namePrefix}-`));
}

/** The env's health page through one host's nginx; "closed" when that nginx has no vhost for it (its default server drops the request). */
const health = (nginx: TestNginx, env: Environment) =>
  fetch(`http://127.0.0.1:${nginx.port}/web/health?db_server_status=1`, {
    headers: { host: env.domain },
    keepalive: false,
  }).then(
    (r) => r.status,
    (e: unknown) => {
      if ((e as { code?: string }).code === "ECONNRESET") return "closed";
      throw e;
    },
  );

const coordDeps = () => fleet.coordinator().deps;
const depsOf = (a: FleetAgent) => ({ paths: a.daemon.paths, config: a.daemon.config });
const agentDeps = () => depsOf(agent);
const filestoreOf = (env: Environment, deps: Parameters<typeof envResources>[1]) =>
  join(envResources(env, deps).dataDir, "filestore", env.dbName);

async function startMove(env: Environment, to: string): Promise<JobView> {
  const res = await placed<MoveEnvResponse>("POST", `/environments/${env.slug}/move`, { to });
  expect({ status: res.status, ...(res.status !== 202 && { body: res.body }) }).toEqual({ status: 202 });
  return res.body.job!;
}

/** Polls the move until `step` runs, then hands over: the copy on the target is under way. */
async function whileStepRuns(jobId: string, step: string): Promise<void> {
  const until = Date.now() + 240_000;
  for (;;) {
    const { body } = await fleet.api<JobView>("GET", `/jobs/${jobId}`);
    if (body.steps.find((s) => s.name === step)?.status === "running") return;
    if (body.status !== "running" && body.status !== "queued")
      throw new Error(`move ${jobId} ended (${body.status}: ${body.error}) before ${step} ran`);
    if (Date.now() > until) throw new Error(`move ${jobId} never reached ${step}`);
    await Bun.sleep(100);
  }
}

describe("env move from an agent", () => {
  test("agent → coordinator: the agent backs up, the coordinator serves the same rows and files, the agent's copy is gone; the row names the agent until the switch", async () => {
    const env = await create("mva-shop", agent.name);
    expect(env.hostId).toBe(agent.daemon.hostId);
    await agent.pg.query(env.dbName, async (sql) => {
      for (let i = 0; i < 40; i++)
        await sql`INSERT INTO res_partner (name, email) VALUES (${`moved ${i}`}, ${`p${i}@mva.example`})`;
    });
    const dir = filestoreOf(env, agentDeps());
    mkdirSync(join(dir, "ab"), { recursive: true });
    writeFileSync(join(dir, "ab", "abcdef0123"), "the agent's attachment");
    const before = await partnerSum(agent.pg, env.dbName);
    expect(before.n).toBeGreaterThanOrEqual(40);
    expect(await health(agent.nginx, env)).toBe(200);

    const job = await startMove(env, coordName);
    // During the copy (the coordinator's create, then its restore): the old host still owns and serves.
    for (const step of ["create", "restore"]) {
      await whileStepRuns(job.id, step);
      const during = (await fleet.api<EnvDetail>("GET", `/environments/${env.slug}`)).body;
      expect({ step, host: during.host }).toEqual({ step, host: agent.name });
      const row = envRow(env.id);
      expect({ hostId: row.hostId, movingToHostId: row.movingToHostId }).toEqual({
        hostId: agent.daemon.hostId,
        movingToHostId: coordDeps().fleet.localHostId,
      });
      expect(await health(agent.nginx, env)).toBe(200);
    }

    const done = await fleet.waitJob(job.id, 600_000);
    expect({ status: done.status, error: done.error }).toEqual({ status: "succeeded", error: null });
    expect(done.result).toMatchObject({ env: env.slug, from: agent.name, to: coordName });

    const moved = envRow(env.id);
    expect(moved).toMatchObject({
      hostId: coordDeps().fleet.localHostId,
      movingToHostId: null,
      movedFromHostId: null,
      status: "active",
    });
    expect((await fleet.api<EnvDetail>("GET", `/environments/${env.slug}`)).body.host).toBe(coordName);
    const coord = fleet.coordinatorHost;
    expect(await partnerSum(coord.pg, env.dbName)).toEqual(before);
    expect(readFileSync(join(filestoreOf(env, coordDeps()), "ab", "abcdef0123"), "utf8")).toBe(
      "the agent's attachment",
    );
    expect(await health(coord.nginx, env)).toBe(200);
    expect((await containers(env, coordDeps().config.docker.namePrefix)).length).toBeGreaterThan(0);

    // Gone from the agent: container, vhost, database, files.
    expect(await containers(env, agent.prefix)).toEqual([]);
    expect(await health(agent.nginx, env)).toBe("closed");
    expect(await databases(agent.pg, env)).toEqual([]);
    expect(existsSync(envResources(env, agentDeps()).dir)).toBe(false);
  }, 900_000);

  test("a move whose target cannot start the env leaves the agent serving and nothing on the coordinator", async () => {
    const env = await create("mva-stay", agent.name);
    await agent.pg.query(env.dbName, async (sql) => {
      await sql`INSERT INTO res_partner (name, email) VALUES ('stays', 'stays@mva.example')`;
    });
    const before = await partnerSum(agent.pg, env.dbName);
    const rowBefore = envRow(env.id);
    // An image the coordinator cannot get (a registry on a closed loopback port): its create
    // fails before the env ever serves there. The agent's container keeps its own image.
    const setImage = (image: string) =>
      coordDeps().db.update(environments).set({ odooImage: image }).where(eq(environments.id, env.id)).run();
    setImage("127.0.0.1:1/odooops-missing:1");
    const job = await startMove(env, coordName);
    const failed = await fleet.waitJob(job.id, 600_000);
    setImage(rowBefore.odooImage);
    expect(failed.status).toBe("failed");
    expect(failed.error).toContain(`create of ${env.slug} on ${coordName}`);

    const pick = (e: Environment) => ({
      hostId: e.hostId,
      movingToHostId: e.movingToHostId,
      movedFromHostId: e.movedFromHostId,
      status: e.status,
      httpPort: e.httpPort,
      longpollPort: e.longpollPort,
      containerName: e.containerName,
      release: e.release,
    });
    expect(pick(envRow(env.id))).toEqual(pick(rowBefore));
    expect(await health(agent.nginx, env)).toBe(200);
    expect(await partnerSum(agent.pg, env.dbName)).toEqual(before);
    expect((await containers(env, agent.prefix)).length).toBeGreaterThan(0);
    // Nothing on the coordinator.
    const coord = fleet.coordinatorHost;
    expect(await containers(env, coordDeps().config.docker.namePrefix)).toEqual([]);
    expect(await databases(coord.pg, env)).toEqual([]);
    expect(existsSync(envResources(env, coordDeps()).dir)).toBe(false);
    expect(await health(coord.nginx, env)).toBe("closed");
  }, 900_000);

  test("agent → agent: the other agent serves the same rows, the first one's copy is gone; the row names the first agent until the switch", async () => {
    const env = await create("mva-hop", agent.name);
    await agent.pg.query(env.dbName, async (sql) => {
      for (let i = 0; i < 20; i++)
        await sql`INSERT INTO res_partner (name, email) VALUES (${`hop ${i}`}, ${`h${i}@mva.example`})`;
    });
    const before = await partnerSum(agent.pg, env.dbName);

    const job = await startMove(env, agentB.name);
    await whileStepRuns(job.id, "restore");
    expect((await fleet.api<EnvDetail>("GET", `/environments/${env.slug}`)).body.host).toBe(agent.name);
    expect(await health(agent.nginx, env)).toBe(200);

    const done = await fleet.waitJob(job.id, 600_000);
    expect({ status: done.status, error: done.error }).toEqual({ status: "succeeded", error: null });
    expect(envRow(env.id)).toMatchObject({
      hostId: agentB.daemon.hostId,
      movingToHostId: null,
      movedFromHostId: null,
      status: "active",
    });
    expect(await partnerSum(agentB.pg, env.dbName)).toEqual(before);
    expect(await health(agentB.nginx, env)).toBe(200);
    expect((await containers(env, agentB.prefix)).length).toBeGreaterThan(0);

    expect(await containers(env, agent.prefix)).toEqual([]);
    expect(await health(agent.nginx, env)).toBe("closed");
    expect(await databases(agent.pg, env)).toEqual([]);
    expect(existsSync(envResources(env, agentDeps()).dir)).toBe(false);
    expect(existsSync(envResources(env, depsOf(agentB)).dir)).toBe(true);
  }, 900_000);
});
