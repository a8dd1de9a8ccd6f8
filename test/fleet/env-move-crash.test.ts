/**
 * kill -9 of the coordinator in the middle of `env move` (issue 16): the move chain runs on the
 * coordinator, so its process is a real one here (`bun src/main.ts serve`, role coordinator, which
 * runs envs itself), beside one agent in this process; each host has its own root, PostgreSQL,
 * nginx and docker name prefix, and both share one S3 target (a private s3rver). Envs move from
 * the coordinator to the agent, and the coordinator is killed (a) while the agent restores the
 * copy, (b) after the switch, while the old copy on the coordinator is being removed. Started
 * again, the move either completes or fails cleanly: the env answers through nginx on exactly
 * one host, the one its row names, nothing of it is left on the other host, the move's columns
 * are cleared, and another move is allowed. While the copy is made, `env get` shows the serving
 * copy (the old host, its ports) and the move.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { startAgentDaemon } from "../../src/daemon/agent";
import type { EnvDetail } from "../../src/env/schema";
import { envResources, LABEL_ENV } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import type { MoveEnvResponse } from "../../src/fleet/schema";
import { TERMINAL } from "../../src/jobs/status";
import type { JobView } from "../../src/jobs/view";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { writeJoinFile } from "../support/fleet";
import { hostConfig, randomPortBase, writeHostConfig } from "../support/host-config";
import { startNginx, type TestNginx } from "../support/nginx";
import { freePort } from "../support/ports";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { startS3, type TestS3 } from "../support/s3";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";
import { until } from "../support/wait";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const ADMIN_PASSWORD = "env-move-crash-pw";
const AGENT = "mvc-agent";
const COORD = hostname();
const prefix = testNamePrefix();

interface Side {
  name: string;
  prefix: string;
  pg: TestPostgres;
  nginx: TestNginx;
  /** What envResources needs to find the env's directory on this host. */
  deps: Parameters<typeof envResources>[1];
}

let s3: TestS3;
let coord: Side;
let agentSide: Side;
let agent: Awaited<ReturnType<typeof startAgentDaemon>> | null = null;
let coordRoot: string;
let coordProc: Subprocess | null = null;
let coordUrl = "";
let token = "";
let logDir: string;
let starts = 0;
const resources: { stop(): Promise<void> }[] = [];

const waitFor = <T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false) =>
  until(what, probe, 300_000, 100);

/** The coordinator as a real process; its stderr goes to a file of the test's, read when something fails. */
async function startCoordinator(): Promise<void> {
  const paths = resolvePaths(coordRoot);
  if (existsSync(paths.daemonUrlFile)) await Bun.write(paths.daemonUrlFile, "");
  coordProc = Bun.spawn(["bun", MAIN, "serve"], {
    env: { ...process.env, ODOOOPS_ROOT: coordRoot, ODOOOPS_ADMIN_PASSWORD: ADMIN_PASSWORD },
    stdout: "ignore",
    stderr: Bun.file(join(logDir, `coordinator-${++starts}.log`)),
  });
  coordUrl = await waitFor("the coordinator's API", async () => {
    const url = existsSync(paths.daemonUrlFile) ? (await Bun.file(paths.daemonUrlFile).text()).trim() : "";
    if (!url) return null;
    const ok = await fetch(`${url}/api/v1/hosts`, { headers: { authorization: `Bearer ${token}` } }).then(
      (r) => r.status < 500,
      () => false,
    );
    return ok ? url : null;
  });
  token = (await Bun.file(paths.localTokenFile).text()).trim();
}

async function killCoordinator(): Promise<void> {
  const proc = coordProc;
  coordProc = null;
  proc?.kill("SIGKILL");
  await proc?.exited;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${coordUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** A look at the coordinator's state, read only (the API shows no move columns). */
function stateRow<T>(query: string, ...args: string[]): T | null {
  const db = new Database(resolvePaths(coordRoot).stateDb, { readonly: true });
  try {
    return db.query<T, string[]>(query).get(...args);
  } finally {
    db.close();
  }
}

const moveColumns = (envId: string) =>
  stateRow<{ host_id: string | null; moving_to_host_id: string | null; moved_from_host_id: string | null }>(
    "SELECT host_id, moving_to_host_id, moved_from_host_id FROM environments WHERE id = ?",
    envId,
  );

const hostId = (name: string) => stateRow<{ id: string }>("SELECT id FROM hosts WHERE name = ?", name)?.id;

/** Every host online with an inventory: placement needs it. */
async function allOnline(): Promise<void> {
  await waitFor("both hosts online with an inventory", async () => {
    const { body } = await api<{ name: string; status: string; inventory: unknown }[]>("GET", "/hosts");
    const ready = body.filter((h) => h.status === "online" && h.inventory !== null).map((h) => h.name);
    return [COORD, AGENT].every((n) => ready.includes(n));
  });
}

async function waitJob(id: string): Promise<JobView> {
  return waitFor(`job ${id} finished`, async () => {
    const { body } = await api<JobView>("GET", `/jobs/${id}`);
    return TERMINAL.has(body.status) ? body : null;
  });
}

/** The env's health page through one host's nginx; "closed" when that nginx has no vhost for it. */
const health = (nginx: TestNginx, domain: string) =>
  fetch(`http://127.0.0.1:${nginx.port}/web/health?db_server_status=1`, {
    headers: { host: domain },
    keepalive: false,
    signal: AbortSignal.timeout(10_000),
  }).then(
    (r) => r.status,
    (e: unknown) => {
      if ((e as { code?: string }).code === "ECONNRESET") return "closed";
      throw e;
    },
  );

/** What of the env is on one host: containers, databases, its role, its directory. */
async function traces(side: Side, env: EnvDetail & { dbName: string; dbUser: string }): Promise<string[]> {
  const ps = await run({
    argv: ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", `label=${LABEL_ENV}=${env.id}`],
  });
  const containers = ps.stdout.split("\n").filter((n) => n.startsWith(`${side.prefix}-`));
  const [dbs, roles] = await side.pg.query("postgres", async (sql) => [
    (await sql<{ n: string }[]>`SELECT datname AS n FROM pg_database WHERE starts_with(datname, ${env.dbName})`).map(
      (r) => r.n,
    ),
    (await sql<{ n: string }[]>`SELECT rolname AS n FROM pg_roles WHERE starts_with(rolname, ${env.dbUser})`).map(
      (r) => r.n,
    ),
  ]);
  const dir = envResources(env, side.deps).dir;
  return [
    ...containers.map((c) => `container ${c}`),
    ...dbs.map((d) => `database ${d}`),
    ...roles.map((r) => `role ${r}`),
    ...(existsSync(dir) ? [`dir ${dir}`] : []),
  ];
}

async function createEnv(name: string): Promise<EnvDetail & { dbName: string; dbUser: string }> {
  await allOnline();
  const res = await api<{ env: { id: string }; job: JobView }>("POST", "/environments", {
    name,
    tier: "dev",
    host: COORD,
  });
  expect({ status: res.status, ...(res.status !== 202 && { body: res.body }) }).toEqual({ status: 202 });
  expect((await waitJob(res.body.job.id)).error).toBeNull();
  const detail = (await api<EnvDetail>("GET", `/environments/${name}`)).body;
  const names = stateRow<{ db_name: string; db_user: string }>(
    "SELECT db_name, db_user FROM environments WHERE id = ?",
    detail.id,
  )!;
  return { ...detail, dbName: names.db_name, dbUser: names.db_user };
}

async function startMove(slug: string): Promise<JobView> {
  await allOnline();
  const res = await api<MoveEnvResponse>("POST", `/environments/${slug}/move`, { to: AGENT });
  expect({ status: res.status, ...(res.status !== 202 && { body: res.body }) }).toEqual({ status: 202 });
  return res.body.job!;
}

const stepOf = async (jobId: string, step: string) =>
  (await api<JobView>("GET", `/jobs/${jobId}`)).body.steps.find((s) => s.name === step)?.status;

/**
 * After the restart: the move ended, one way or the other, and left one serving copy, where the
 * row says, and nothing on the other host; the move columns are clear and a new move is allowed.
 */
async function settledAfterCrash(env: EnvDetail & { dbName: string; dbUser: string }, jobId: string) {
  const done = await waitJob(jobId);
  const detail = (await api<EnvDetail>("GET", `/environments/${env.slug}`)).body;
  const answering = [
    (await health(coord.nginx, env.domain)) === 200 ? COORD : null,
    (await health(agentSide.nginx, env.domain)) === 200 ? AGENT : null,
  ].filter((h) => h !== null);
  expect({ answering, move: detail.move }).toEqual({ answering: [detail.host ?? "(no host)"], move: null });
  const [here, other] = detail.host === AGENT ? [agentSide, coord] : [coord, agentSide];
  expect(moveColumns(env.id)).toEqual({
    host_id: hostId(here.name)!,
    moving_to_host_id: null,
    moved_from_host_id: null,
  });
  expect(await traces(other, env)).toEqual([]);
  expect((await traces(here, env)).length).toBeGreaterThan(0);
  // Another move is allowed: the dry run is checked like a real request, nothing queued.
  await allOnline();
  const back = await api<MoveEnvResponse>("POST", `/environments/${env.slug}/move`, { to: other.name, dryRun: true });
  expect({ status: back.status, dryRun: back.body.dryRun }).toEqual({ status: 200, dryRun: true });
  return done;
}

beforeAll(async () => {
  logDir = makeTempDir("odooops-move-crash-logs-");
  s3 = await startS3();
  resources.push({ stop: () => s3.destroy() });
  const target = await s3.target(`mvc-${randomSuffix()}`, { prefix: "odooops" });
  const shared = {
    tiers: { dev: { cpus: 0.5, memoryMb: 512, storageGb: 1 } },
    backups: { s3: target, schedules: { dev: "" } },
  };
  const host = async (name: string, namePrefix: string, extra: Record<string, unknown>) => {
    const [pg, nginx] = await Promise.all([startPostgres({ dockerAccess: false }), startNginx()]);
    resources.push(pg, nginx);
    const config = hostConfig(
      { pg, nginx, baseDomain: "fleet.localhost", namePrefix, portsFrom: randomPortBase(), portCount: 200 },
      { ...shared, ...extra },
    );
    writeHostConfig(nginx.dir, config);
    const side: Side = {
      name,
      prefix: namePrefix,
      pg,
      nginx,
      deps: { paths: resolvePaths(nginx.dir), config: ConfigSchema.parse(config) },
    };
    return { side, config };
  };
  const [apiPort, fleetPort] = [await freePort(), await freePort()];
  const c = await host(COORD, `${prefix}-c`, {
    role: "coordinator",
    listen: `127.0.0.1:${apiPort}`,
    fleet: { listen: `127.0.0.1:${fleetPort}`, heartbeatSec: 1 },
  });
  coord = c.side;
  coordRoot = coord.nginx.dir;
  await startCoordinator();
  const a = await host(AGENT, `${prefix}-a`, { role: "agent", fleet: { heartbeatSec: 1 } });
  agentSide = a.side;
  const join = await api<{ token: string }>("POST", "/hosts/tokens", { name: AGENT });
  expect(join.status).toBe(201);
  const paths = writeJoinFile(agentSide.nginx.dir, join.body.token);
  agent = await startAgentDaemon({ paths, config: ConfigSchema.parse(a.config) });
  await allOnline();
}, 300_000);

afterAll(async () => {
  // Every stage runs even when an earlier one throws: nothing of this file may outlive it.
  await killCoordinator().catch(() => undefined);
  await agent?.stop().catch(() => undefined);
  await removeByNamePrefix(prefix).catch(() => undefined);
  await Promise.allSettled(resources.map((r) => r.stop()));
  if (logDir) removeTempDir(logDir);
}, 180_000);

describe("kill -9 of the coordinator during env move", () => {
  test("(a) while the agent restores the copy: after the restart the move ends with one serving copy, where the row says", async () => {
    const env = await createEnv("mvc-restore");
    const before = { httpPort: env.httpPort, longpollPort: env.longpollPort, release: env.currentRelease };
    expect(await health(coord.nginx, env.domain)).toBe(200);
    const job = await startMove(env.slug);

    // The agent's restore sub-job running: the copy is being made there.
    await waitFor("the restore running on the agent", async () => {
      const { body } = await api<JobView>("GET", `/jobs/${job.id}`);
      if (TERMINAL.has(body.status)) throw new Error(`move ended (${body.status}: ${body.error}) before the restore`);
      const restore = stateRow<{ status: string }>(
        "SELECT status FROM jobs WHERE kind = 'db.restore' AND lock_key = ? AND host_id = ? ORDER BY id DESC LIMIT 1",
        env.id,
        hostId(AGENT)!,
      );
      return restore?.status === "running";
    });
    // Meanwhile env get shows the serving copy: the old host, its ports and release, and the move.
    const during = (await api<EnvDetail>("GET", `/environments/${env.slug}`)).body;
    expect({
      host: during.host,
      httpPort: during.httpPort,
      longpollPort: during.longpollPort,
      release: during.currentRelease,
      status: during.status,
    }).toEqual({ host: COORD, ...before, status: "active" });
    expect(during.move).toStartWith(`moving to ${AGENT} (job ${job.id}, since `);
    expect(await health(coord.nginx, env.domain)).toBe(200);

    await killCoordinator();
    // Down for a while: the agent goes on with the restore and reports it when the coordinator is back.
    await Bun.sleep(3_000);
    await startCoordinator();
    await settledAfterCrash(env, job.id);
  }, 900_000);

  test("(b) after the switch, while the old copy is removed: after the restart the move ends with one serving copy, where the row says", async () => {
    const env = await createEnv("mvc-switch");
    const job = await startMove(env.slug);
    await waitFor("the old copy being removed", async () => {
      const status = await stepOf(job.id, "remove-old");
      if (status === "done" || status === "failed")
        throw new Error(`the removal ended (${status}) before the coordinator could be killed`);
      return status === "running";
    });
    // Switched: the row names the agent, and the coordinator's copy is not gone yet.
    expect(moveColumns(env.id)).toEqual({
      host_id: hostId(AGENT)!,
      moving_to_host_id: null,
      moved_from_host_id: hostId(COORD)!,
    });
    await killCoordinator();
    await Bun.sleep(3_000);
    await startCoordinator();
    const done = await settledAfterCrash(env, job.id);
    // After the switch nothing is undone: the agent serves the env.
    expect({ status: done.status, error: done.error }).toEqual({ status: "succeeded", error: null });
    expect((await api<EnvDetail>("GET", `/environments/${env.slug}`)).body.host).toBe(AGENT);
  }, 900_000);
});
