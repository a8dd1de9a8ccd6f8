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
import { backups } from "../../src/db/backup.sql";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { openS3 } from "../../src/host/s3/client";
import type { JobView } from "../../src/jobs/view";
import { type FleetAgent, type FleetHost, startFleet } from "../support/fleet";
import type { TestPostgres } from "../support/postgres";

let fleet: Awaited<ReturnType<typeof startFleet>>;
let own: FleetHost;
let agentHost: FleetAgent;
const coordinator = () => fleet.coordinator();
const agent = () => agentHost.daemon;

beforeAll(async () => {
  fleet = await startFleet({
    coordinatorAddress: "127.0.0.1",
    agents: [{ name: "xr-agent", address: "127.0.0.1" }],
    s3Bucket: "xr",
  });
  own = fleet.coordinatorHost;
  agentHost = fleet.agents[0]!;
}, 180_000);

afterAll(async () => {
  await fleet?.cleanup();
}, 120_000);

const api = <T>(method: string, path: string, body?: unknown) => fleet.api<T>(method, path, body);
const waitJob = (id: string) => fleet.waitJob(id, 150_000);

async function create(name: string, host: string): Promise<Environment> {
  const { status, body } = await api<{ env: { id: string }; job: JobView; error?: unknown }>("POST", "/environments", {
    name,
    tier: "dev",
    host,
  });
  expect({ status, error: body.error }).toEqual({ status: 202, error: undefined });
  const job = await waitJob(body.job.id);
  expect(job.error).toBeNull();
  return coordinator().deps.db.select().from(environments).where(eq(environments.id, body.env.id)).get()!;
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
    await fleet.waitForInventory([hostname(), "xr-agent"]);
    [source, target] = await Promise.all([create("xr-src", hostname()), create("xr-dst", "xr-agent")]);
    expect(source.hostId).toBe(coordinator().deps.fleet.localHostId);
    expect(target.hostId).toBe(agent().hostId);
    await own.pg.query(source.dbName, async (sql) => {
      for (let i = 0; i < 50; i++)
        await sql`INSERT INTO res_partner (name, email) VALUES (${`moved ${i}`}, ${`p${i}@xr.example`})`;
    });
    const dir = filestoreOf(source, coordinator().deps);
    mkdirSync(join(dir, "ab"), { recursive: true });
    writeFileSync(join(dir, "ab", "abcdef0123"), "the source's attachment");

    const b = await api<JobView>("POST", `/environments/${source.slug}/backups`);
    expect(b.status).toBe(202);
    const job = await waitJob(b.body.id);
    expect(job.error).toBeNull();
    const row = coordinator().deps.db.select().from(backups).where(eq(backups.envId, source.id)).get()!;
    expect(row.status).toBe("completed");
    expect(row.s3Key).toBe(`odooops/${source.slug}/${row.id}/`);
    backupId = row.id;
  }, 300_000);

  test("the target's host downloads it from S3 and serves the same rows and files", async () => {
    const before = await partnerSum(own.pg, source.dbName);
    expect(before.n).toBeGreaterThanOrEqual(50);
    const r = await api<{ plan: { backup: { from: string } }; job: JobView }>(
      "POST",
      `/environments/${target.slug}/db/restore`,
      { backup: backupId, from: source.slug },
    );
    expect(r.status).toBe(202);
    expect(r.body.plan.backup.from).toBe("s3");
    expect(coordinator().deps.jobs.queue.row(r.body.job.id).hostId).toBe(agent().hostId);
    const job = await waitJob(r.body.job.id);
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");

    expect(await partnerSum(agentHost.pg, target.dbName)).toEqual(before);
    const file = join(filestoreOf(target, { paths: agent().paths, config: agent().config }), "ab", "abcdef0123");
    expect(readFileSync(file, "utf8")).toBe("the source's attachment");
    // Served on the agent through its nginx.
    const health = await fetch(`http://127.0.0.1:${agentHost.nginx.port}/web/health?db_server_status=1`, {
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
    const before = await partnerSum(agentHost.pg, target.dbName);
    const row = coordinator().deps.db.select().from(backups).where(eq(backups.id, backupId)).get()!;
    const store = await openS3(coordinator().config.backups.s3!);
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
    expect(await partnerSum(agentHost.pg, target.dbName)).toEqual(before);
    expect(existsSync(join(agent().paths.dataDir, "envs", target.slug))).toBe(true);
  }, 300_000);
});
