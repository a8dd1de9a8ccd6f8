/**
 * `env move ENV --to HOST`, run: a coordinator (which runs envs itself) and an agent daemon, each
 * with its own root, PostgreSQL, nginx and docker prefix, sharing one S3 target (a private
 * s3rver), as in cross-host-restore.test.ts. A move carries the rows and files to the agent,
 * which serves them through its nginx, and leaves nothing on the coordinator; a move whose
 * target cannot start the env leaves the old one serving and nothing on the target.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { SecretBox } from "../../src/auth/secretbox";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { startAgentDaemon } from "../../src/daemon/agent";
import { startDaemon } from "../../src/daemon/serve";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { decodeJoinToken } from "../../src/fleet/join-token";
import { run } from "../../src/exec/run";
import { LABEL_ENV } from "../../src/env/resources";
import { writeJoin } from "../../src/init/join";
import { TERMINAL } from "../../src/jobs/status";
import type { JobView } from "../../src/jobs/view";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { hostConfig, randomPortBase, writeHostConfig } from "../support/host-config";
import { startNginx, type TestNginx } from "../support/nginx";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { startS3, type TestS3 } from "../support/s3";
import { runCliWith } from "../support/cli";
import { randomSuffix } from "../support/tmp";

const ADMIN_PASSWORD = "env-move-run-pw";
const prefix = testNamePrefix();
const coordPrefix = `${prefix}c`;
const agentPrefix = `${prefix}a`;

let s3: TestS3;
let coordPg: TestPostgres;
let agentPg: TestPostgres;
let coordNginx: TestNginx;
let agentNginx: TestNginx;
let coordinator: Awaited<ReturnType<typeof startDaemon>>;
let agent: Awaited<ReturnType<typeof startAgentDaemon>>;
let token: string;

beforeAll(async () => {
  s3 = await startS3();
  const target = await s3.target(`mv-${randomSuffix()}`, { prefix: "odooops" });
  [coordPg, agentPg, coordNginx, agentNginx] = await Promise.all([
    startPostgres({ dockerAccess: false }),
    startPostgres({ dockerAccess: false }),
    startNginx(),
    startNginx(),
  ]);
  const host = (pg: TestPostgres, nginx: TestNginx, namePrefix: string, extra: Record<string, unknown>) =>
    hostConfig(
      { pg, nginx, baseDomain: "test.localhost", namePrefix, portsFrom: randomPortBase(), portCount: 200 },
      { fleet: { listen: "127.0.0.1:0", heartbeatSec: 1 }, backups: { s3: target }, ...extra },
    );
  writeHostConfig(coordNginx.dir, host(coordPg, coordNginx, coordPrefix, { role: "coordinator" }));
  coordinator = await startDaemon({
    root: coordNginx.dir,
    listen: "127.0.0.1:0",
    env: { ...process.env, ODOOOPS_ADMIN_PASSWORD: ADMIN_PASSWORD },
  });
  token = (await coordinator.deps.auth.login("admin", ADMIN_PASSWORD)).token;
  const join = coordinator.deps.fleet.createJoinToken({ name: "mv-agent" }).token;
  const paths = resolvePaths(agentNginx.dir);
  writeJoin(paths, { url: decodeJoinToken(join).url, token: join }, SecretBox.fromFile(paths.secretKeyFile));
  agent = await startAgentDaemon({
    paths,
    config: ConfigSchema.parse(host(agentPg, agentNginx, agentPrefix, { role: "agent" })),
  });
}, 180_000);

afterAll(async () => {
  // Every stage runs even when an earlier one throws: nothing of this file may outlive it.
  await Promise.allSettled([agent?.stop()]);
  await Promise.allSettled([coordinator?.stop()]);
  // Each host has its own docker name prefix (`<prefix>c-…`, `<prefix>a-…`): one sweep of `<prefix>` finds both.
  await Promise.allSettled([removeByNamePrefix(prefix)]);
  await Promise.allSettled([coordPg?.stop(), agentPg?.stop(), coordNginx?.stop(), agentNginx?.stop(), s3?.destroy()]);
}, 120_000);

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${coordinator.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function waitJob(id: string, timeoutMs = 150_000): Promise<JobView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api<JobView>("GET", `/jobs/${id}`);
    if (TERMINAL.has(body.status)) return body;
    if (Date.now() > until) throw new Error(`job ${id} still ${body.status}`);
    await Bun.sleep(200);
  }
}

/** Placement needs each host's inventory: its first heartbeat with one. */
async function waitForInventory(names: string[], timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api<{ name: string; status: string; inventory: unknown }[]>("GET", "/hosts");
    const ready = body.filter((h) => h.status === "online" && h.inventory !== null).map((h) => h.name);
    if (names.every((n) => ready.includes(n))) return;
    if (Date.now() > until) throw new Error(`hosts ${names.join(", ")} not all reported an inventory: ${ready}`);
    await Bun.sleep(200);
  }
}

async function create(name: string, host: string): Promise<Environment> {
  const { status, body } = await api<{ env: { id: string }; job: JobView; error?: unknown }>("POST", "/environments", {
    name,
    tier: "dev",
    host,
  });
  expect({ status, error: body.error }).toEqual({ status: 202, error: undefined });
  const job = await waitJob(body.job.id);
  expect(job.error).toBeNull();
  return coordinator.deps.db.select().from(environments).where(eq(environments.id, body.env.id)).get()!;
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

/** The status of the env's health page through one host's nginx; "closed" when that nginx has no vhost for it (its default server drops the request). */
const health = (nginx: TestNginx, env: Environment) =>
  fetch(`http://127.0.0.1:${nginx.port}/web/health?db_server_status=1`, { headers: { host: env.domain } }).then(
    (r) => r.status,
    (e: unknown) => {
      if ((e as { code?: string }).code === "ECONNRESET") return "closed";
      throw e;
    },
  );

const filestoreOf = (env: Environment, deps: Parameters<typeof envResources>[1]) =>
  join(envResources(env, deps).dataDir, "filestore", env.dbName);

const envRow = (id: string) => coordinator.deps.db.select().from(environments).where(eq(environments.id, id)).get()!;

const cli = (argv: string[]) =>
  runCliWith(argv, {
    fetch: (url, init) => fetch(url, init),
    env: { ODOOOPS_URL: coordinator.url, ODOOOPS_TOKEN: token, ODOOOPS_ROOT: "/nonexistent" },
  });

const agentDeps = () => ({ paths: agent.paths, config: agent.config });

describe("env move, run", () => {
  test("the env moves from the coordinator to the agent: same rows and files through the agent's nginx, gone from the coordinator", async () => {
    await waitForInventory([hostname(), "mv-agent"]);
    const env = await create("mv-shop", hostname());
    expect(env.hostId).toBe(coordinator.deps.fleet.localHostId);
    await coordPg.query(env.dbName, async (sql) => {
      for (let i = 0; i < 50; i++)
        await sql`INSERT INTO res_partner (name, email) VALUES (${`moved ${i}`}, ${`p${i}@mv.example`})`;
    });
    const dir = filestoreOf(env, coordinator.deps);
    mkdirSync(join(dir, "cd"), { recursive: true });
    writeFileSync(join(dir, "cd", "cdef012345"), "the moved attachment");
    const before = await partnerSum(coordPg, env.dbName);
    expect(before.n).toBeGreaterThanOrEqual(50);
    expect(await health(coordNginx, env)).toBe(200);

    // The real CLI, following the job to its end: --json prints the finished job.
    const out = await cli(["--json", "env", "move", env.slug, "--to", "mv-agent", "--wait"]);
    expect({ code: out.code, stderr: out.stderr }).toMatchObject({ code: 0 });
    const job = JSON.parse(out.stdout) as JobView;
    expect(job.kind).toBe("env.move");
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    expect(job.result).toMatchObject({ env: env.slug, from: hostname(), to: "mv-agent" });
    expect(String(job.result?.dns)).toStartWith(`point ${env.domain} at `);

    const moved = envRow(env.id);
    expect(moved.hostId).toBe(agent.hostId);
    expect(moved.status).toBe("active");
    expect(await partnerSum(agentPg, env.dbName)).toEqual(before);
    expect(readFileSync(join(filestoreOf(env, agentDeps()), "cd", "cdef012345"), "utf8")).toBe("the moved attachment");
    expect(await health(agentNginx, env)).toBe(200);
    expect((await containers(env, agentPrefix)).length).toBeGreaterThan(0);

    // Gone from the old host: container, vhost, database, files.
    expect(await containers(env, coordPrefix)).toEqual([]);
    expect(await health(coordNginx, env)).toBe("closed");
    expect(await databases(coordPg, env)).toEqual([]);
    expect(existsSync(envResources(env, coordinator.deps).dir)).toBe(false);

    const audit = await api<{ action: string; details: Record<string, unknown> }[]>(
      "GET",
      "/audit/logs?action=env.move",
    );
    expect(audit.body[0]?.details).toMatchObject({ from: hostname(), to: "mv-agent", job: job.id });
  }, 900_000);

  test("a move whose target cannot start the env leaves the old one serving and nothing on the target", async () => {
    const env = await create("mv-stay", hostname());
    await coordPg.query(env.dbName, async (sql) => {
      await sql`INSERT INTO res_partner (name, email) VALUES ('stays', 'stays@mv.example')`;
    });
    const before = await partnerSum(coordPg, env.dbName);
    const rowBefore = envRow(env.id);
    // An image the target cannot get (a registry on a closed loopback port): its create fails
    // before the env ever serves there. The old container keeps its own image.
    coordinator.deps.db
      .update(environments)
      .set({ odooImage: "127.0.0.1:1/odooops-missing:1" })
      .where(eq(environments.id, env.id))
      .run();
    const out = await cli(["env", "move", env.slug, "--to", "mv-agent", "--wait"]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain(`create of ${env.slug} on mv-agent`);
    // The undo is shown, and the failure ends the output: no DNS advice after it.
    expect(out.stderr).toContain("↺ Naming the target host beside the current one");
    expect(out.stderr.trimEnd()).toMatch(/\n {2}logs: odooops jobs logs \S+$/);
    coordinator.deps.db
      .update(environments)
      .set({ odooImage: rowBefore.odooImage })
      .where(eq(environments.id, env.id))
      .run();

    // The row is as it was: placed on the coordinator, active, the same ports and container.
    const after = envRow(env.id);
    const pick = (e: Environment) => ({
      hostId: e.hostId,
      status: e.status,
      httpPort: e.httpPort,
      longpollPort: e.longpollPort,
      containerName: e.containerName,
      release: e.release,
    });
    expect(pick(after)).toEqual(pick(rowBefore));
    // Still serving the same rows on the old host.
    expect(await health(coordNginx, env)).toBe(200);
    expect(await partnerSum(coordPg, env.dbName)).toEqual(before);
    expect((await containers(env, coordPrefix)).length).toBeGreaterThan(0);
    // Nothing on the target.
    expect(await containers(env, agentPrefix)).toEqual([]);
    expect(await databases(agentPg, env)).toEqual([]);
    expect(existsSync(envResources(env, agentDeps()).dir)).toBe(false);
    expect(await health(agentNginx, env)).toBe("closed");
  }, 900_000);
});
