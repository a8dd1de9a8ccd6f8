/**
 * `db restore TARGET --from SOURCE --backup ID` where SOURCE's backup was made on another host:
 * a coordinator (which runs envs itself) and an agent daemon, each with its own root,
 * PostgreSQL, nginx and docker prefix, sharing one S3 target (a private s3rver). The restore
 * job runs on the target's host and reads the backup from S3, checked against the manifest the
 * coordinator's state recorded; a manifest altered in the bucket is refused with the target
 * untouched.
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
import { backups } from "../../src/db/backup.sql";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { decodeJoinToken } from "../../src/fleet/join-token";
import { openS3 } from "../../src/host/s3/client";
import { writeJoin } from "../../src/init/join";
import { TERMINAL } from "../../src/jobs/status";
import type { JobView } from "../../src/jobs/view";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { hostConfig, randomPortBase, writeHostConfig } from "../support/host-config";
import { startNginx, type TestNginx } from "../support/nginx";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { startS3, type TestS3 } from "../support/s3";
import { randomSuffix } from "../support/tmp";

const ADMIN_PASSWORD = "cross-host-restore-pw";
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
  const target = await s3.target(`xr-${randomSuffix()}`, { prefix: "odooops" });
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
  const join = coordinator.deps.fleet.createJoinToken({ name: "xr-agent" }).token;
  const paths = resolvePaths(agentNginx.dir);
  writeJoin(paths, { url: decodeJoinToken(join).url, token: join }, SecretBox.fromFile(paths.secretKeyFile));
  agent = await startAgentDaemon({
    paths,
    config: ConfigSchema.parse(host(agentPg, agentNginx, agentPrefix, { role: "agent" })),
  });
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await coordinator?.stop();
  // Each host has its own docker name prefix (`<prefix>c-…`, `<prefix>a-…`).
  await removeByNamePrefix(prefix);
  await Promise.all([coordPg?.stop(), agentPg?.stop(), coordNginx?.stop(), agentNginx?.stop(), s3?.destroy()]);
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

/** The partners' rows, independent of the product: what a restore must carry over byte for byte. */
const partnerSum = (pg: TestPostgres, db: string) =>
  pg.query(db, async (sql) => {
    const [r] = await sql<{ sum: string; n: number }[]>`
      SELECT md5(string_agg(concat_ws('|', id, name, email), ',' ORDER BY id)) AS sum, count(*)::int AS n FROM res_partner`;
    return r!;
  });

const filestoreOf = (env: Environment, deps: Parameters<typeof envResources>[1]) =>
  join(envResources(env, deps).dataDir, "filestore", env.dbName);

describe("restore of a backup made on another host", () => {
  let source: Environment;
  let target: Environment;
  let backupId: string;

  test("the backup goes to S3 on the source's host (the coordinator)", async () => {
    await waitForInventory([hostname(), "xr-agent"]);
    [source, target] = await Promise.all([create("xr-src", hostname()), create("xr-dst", "xr-agent")]);
    expect(source.hostId).toBe(coordinator.deps.fleet.localHostId);
    expect(target.hostId).toBe(agent.hostId);
    await coordPg.query(source.dbName, async (sql) => {
      for (let i = 0; i < 50; i++)
        await sql`INSERT INTO res_partner (name, email) VALUES (${`moved ${i}`}, ${`p${i}@xr.example`})`;
    });
    const dir = filestoreOf(source, coordinator.deps);
    mkdirSync(join(dir, "ab"), { recursive: true });
    writeFileSync(join(dir, "ab", "abcdef0123"), "the source's attachment");

    const b = await api<JobView>("POST", `/environments/${source.slug}/backups`);
    expect(b.status).toBe(202);
    const job = await waitJob(b.body.id);
    expect(job.error).toBeNull();
    const row = coordinator.deps.db.select().from(backups).where(eq(backups.envId, source.id)).get()!;
    expect(row.status).toBe("completed");
    expect(row.s3Key).toBe(`odooops/${source.slug}/${row.id}/`);
    backupId = row.id;
  }, 300_000);

  test("the target's host downloads it from S3 and serves the same rows and files", async () => {
    const before = await partnerSum(coordPg, source.dbName);
    expect(before.n).toBeGreaterThanOrEqual(50);
    const r = await api<{ plan: { backup: { from: string } }; job: JobView }>(
      "POST",
      `/environments/${target.slug}/db/restore`,
      { backup: backupId, from: source.slug },
    );
    expect(r.status).toBe(202);
    expect(r.body.plan.backup.from).toBe("s3");
    expect(coordinator.deps.jobs.queue.row(r.body.job.id).hostId).toBe(agent.hostId);
    const job = await waitJob(r.body.job.id);
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");

    expect(await partnerSum(agentPg, target.dbName)).toEqual(before);
    const file = join(filestoreOf(target, { paths: agent.paths, config: agent.config }), "ab", "abcdef0123");
    expect(readFileSync(file, "utf8")).toBe("the source's attachment");
    // Served on the agent through its nginx.
    const health = await fetch(`http://127.0.0.1:${agentNginx.port}/web/health?db_server_status=1`, {
      headers: { host: target.domain },
    });
    expect(health.status).toBe(200);
    const audit = await api<{ action: string; details: Record<string, unknown> }[]>(
      "GET",
      "/audit/logs?action=db.restore",
    );
    expect(audit.body[0]?.details).toMatchObject({ fromHost: hostname(), toHost: "xr-agent" });
  }, 300_000);

  test("a manifest altered in the bucket is refused on the target's host; the target keeps its data", async () => {
    const before = await partnerSum(agentPg, target.dbName);
    const row = coordinator.deps.db.select().from(backups).where(eq(backups.id, backupId)).get()!;
    const store = await openS3(coordinator.config.backups.s3!);
    try {
      const key = `${row.s3Key}manifest.json`;
      const m = JSON.parse(new TextDecoder().decode(await store.getBytes(key))) as {
        rowCounts: Record<string, number>;
      };
      m.rowCounts.res_partner = 1;
      await store.put(key, JSON.stringify(m), "application/json");
    } finally {
      store.close();
    }
    const r = await api<{ job: JobView }>("POST", `/environments/${target.slug}/db/restore`, {
      backup: backupId,
      from: source.slug,
    });
    expect(r.status).toBe(202);
    const job = await waitJob(r.body.job.id);
    expect(job.status).toBe("failed");
    expect(job.error).toContain("differs from the one recorded when the backup was made");
    expect(await partnerSum(agentPg, target.dbName)).toEqual(before);
    expect(existsSync(join(agent.paths.dataDir, "envs", target.slug))).toBe(true);
  }, 300_000);
});
