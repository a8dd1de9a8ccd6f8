/**
 * `db clone PROD --to STAGE` across hosts, on real services: a coordinator that runs envs itself
 * and an agent, each with its own root, PostgreSQL, nginx and docker prefix (test/support/fleet.ts),
 * sharing one S3 target (a private s3rver). Production on the coordinator holds personal data
 * (test/support/pii-fixture.ts); staging runs on the agent. The clone reaches staging anonymized
 * — none of production's e-mail addresses in its database, read with SQL — and leaves nothing in
 * the transfer prefix and production as it was. A rule set that leaves the e-mails in place stops
 * the chain on the coordinator at the PII check, naming the column: nothing uploaded, staging's
 * data unchanged, no restore queued. A chain cancelled mid-copy cancels the copy and leaves
 * nothing in S3; an agent's env cloned the other way is copied on the agent.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import type { Environment } from "../../src/env/env.sql";
import { pgConnect } from "../../src/host/postgres/connect";
import { openS3 } from "../../src/host/s3/client";
import type { S3Target } from "../../src/host/s3/schema";
import { jobs } from "../../src/jobs/jobs.sql";
import type { JobView } from "../../src/jobs/view";
import { startFleet, type FleetAgent } from "../support/fleet";
import { fleetEnvs } from "../support/fleet-envs";
import type { PiiGroundTruth } from "../support/pii-fixture";
import { startS3, type TestS3 } from "../support/s3";
import { randomSuffix } from "../support/tmp";

let s3: TestS3;
let target: S3Target;
let fleet: Awaited<ReturnType<typeof startFleet>>;
let agent: FleetAgent;
let truth: PiiGroundTruth;
let prod: Environment;
let stage: Environment;

const TIER = { cpus: 0.5, memoryMb: 768, workers: 0, storageGb: 1 };

beforeAll(async () => {
  s3 = await startS3();
  target = await s3.target(`xc-${randomSuffix()}`, { prefix: "odooops" });
  fleet = await startFleet({
    coordinatorAddress: "127.0.0.1",
    agents: [{ name: "xc-agent", address: "127.0.0.1" }],
    shared: { backups: { s3: target }, tiers: { production: TIER, staging: TIER, dev: TIER } },
  });
  agent = fleet.agents[0]!;
}, 240_000);

afterAll(async () => {
  // Every stage runs even when an earlier one throws: nothing of this file may outlive it.
  await Promise.allSettled([fleet?.cleanup()]);
  await Promise.allSettled([s3?.destroy()]);
}, 120_000);

const {
  coord,
  envRow,
  cli,
  create,
  seedPii,
  partnerSum,
  startClone,
  clone,
  leaked: leakedPii,
} = fleetEnvs(() => fleet, "xc-admin");

/** Placement needs each host's inventory: its first heartbeat with one. */
async function waitForInventory(names: string[], timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await fleet.api<{ name: string; status: string; inventory: unknown }[]>("GET", "/hosts");
    const ready = body.filter((h) => h.status === "online" && h.inventory !== null).map((h) => h.name);
    if (names.every((n) => ready.includes(n))) return;
    if (Date.now() > until) throw new Error(`hosts ${names.join(", ")} not all reported an inventory: ${ready}`);
    await Bun.sleep(200);
  }
}

/** Production's planted addresses still found in a database, by the tag every one of them carries. */
const leaked = (env: Environment) => leakedPii(env, truth.tag, { attachments: true });

/** Everything under the transfer prefix of the shared bucket. */
async function transferObjects(): Promise<string[]> {
  const store = await openS3(target);
  try {
    return (await store.list(`${target.prefix}_clone-transfer/`)).map((o) => o.key);
  } finally {
    store.close();
  }
}

/** Databases on the coordinator's PostgreSQL named like `like` (production's scratch copies included). */
async function pgAdminQuery(like: string): Promise<string[]> {
  const { host, port, user, password } = coord().config.postgres;
  const sql = pgConnect({ host, port, user, password, database: "postgres" });
  try {
    return (await sql<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE ${like}`).map(
      (r) => r.datname,
    );
  } finally {
    await sql.close();
  }
}

const jobsOf = (kind: string) => coord().db.select().from(jobs).where(eq(jobs.kind, kind)).all();

describe("db clone across hosts", () => {
  test("production with personal data on the coordinator, staging on the agent", async () => {
    const here = coord().fleet.envHost({ hostId: null }).name;
    await waitForInventory([here, "xc-agent"]);
    prod = await create("xc-prod", "production", here);
    stage = await create("xc-stage", "staging", "xc-agent");
    expect(prod.hostId).toBe(coord().fleet.localHostId);
    expect(stage.hostId).toBe(agent.daemon.hostId);
    truth = await seedPii(prod);
    // The check below can fail: production holds the planted addresses.
    expect(await leaked(prod)).toBeGreaterThan(0);
  }, 600_000);

  test("the clone reaches staging anonymized; the transfer is gone from S3; production is as it was", async () => {
    const before = await partnerSum(prod);
    const out = await cli(["--json", "db", "clone", prod.slug, "--to", stage.slug, "--yes", "--wait"]);
    const job = JSON.parse(out.stdout || "{}") as JobView;
    if (out.code !== 0) console.error(out.stderr, job.error);
    expect(out.code).toBe(0);
    expect(job.kind).toBe("db.clone-across");
    expect(job.status).toBe("succeeded");
    expect(job.result).toMatchObject({ anonymized: true, fromHost: coord().fleet.envHost({ hostId: null }).name });
    expect(job.result).toMatchObject({ toHost: "xc-agent", adminLogin: "admin" });

    // Staging on the agent got production's rows, none of its addresses.
    const staged = await partnerSum(stage);
    expect(staged.n).toBeGreaterThanOrEqual(truth.partners);
    expect(staged.sum).not.toBe(before.sum);
    expect(await leaked(stage)).toBe(0);
    // It serves the copy through the agent's nginx.
    const health = await agent.get(stage.domain, "/web/health?db_server_status=1");
    expect(health.status).toBe(200);

    // The export ran on the coordinator's host and checked the copy there; the restore on the agent.
    const [exportJob] = jobsOf("db.clone-export");
    expect(exportJob?.hostId).toBe(coord().fleet.localHostId);
    const exportLog = coord().jobs.logs.read(exportJob!.id, 0).text;
    expect(exportLog).toContain("PII check passed");
    // --wait follows one job: the chain's log carries both hosts' lines, each named.
    const chainLog = coord().jobs.logs.read(job.id, 0).text;
    expect(chainLog).toContain(`${coord().fleet.envHost({ hostId: null }).name}: `);
    expect(chainLog).toMatch(/PII check passed/);
    expect(chainLog).toContain("xc-agent: ");
    const restore = jobsOf("db.restore").find((j) => j.lockKey === stage.id);
    expect(restore?.hostId).toBe(agent.daemon.hostId);

    expect(await transferObjects()).toEqual([]);
    expect(await partnerSum(prod)).toEqual(before);
    expect(await pgAdminQuery(`${prod.dbName}%`)).toEqual([prod.dbName]);

    const audit = await fleet.api<{ action: string; details: Record<string, unknown> }[]>(
      "GET",
      "/audit/logs?action=db.clone",
    );
    expect(audit.body[0]?.details).toMatchObject({ from: prod.slug, toHost: "xc-agent", job: job.id });
  }, 900_000);

  test("rules that leave the e-mails: the chain stops on the source's host at the PII check; nothing uploaded, staging unchanged", async () => {
    const stageBefore = await partnerSum(stage);
    const prodBefore = await partnerSum(prod);
    const restoresBefore = jobsOf("db.restore").length;
    const rules = "version: 1\ntables:\n  res_partner:\n    columns:\n      email: { keep: true }\n";
    const chain = await startClone(stage, prod, { rules: { text: rules, file: "leaky.yaml" } });
    const job = await fleet.waitJob(chain);
    expect(job.status).toBe("failed");
    expect(job.error).toContain("PII check failed");
    expect(job.error).toContain("res_partner.email");

    // Stopped before the upload, on the coordinator's host.
    const exportJob = jobsOf("db.clone-export").find((j) => j.createdAt >= job.createdAt);
    expect(exportJob?.status).toBe("failed");
    const steps = coord().jobs.queue.steps(exportJob!.id);
    expect(steps.map((s) => [s.name, s.status])).toEqual([
      ["copy", "undone"],
      ["pii-check", "failed"],
      ["upload", "pending"],
      ["drop-scratch", "pending"],
    ]);
    expect(await transferObjects()).toEqual([]);
    // The scratch copy is gone again, production untouched.
    expect(await pgAdminQuery(`${prod.dbName}%`)).toEqual([prod.dbName]);
    expect(await partnerSum(prod)).toEqual(prodBefore);

    // Nothing reached staging: no restore queued, its data as before, still serving.
    expect(jobsOf("db.restore").length).toBe(restoresBefore);
    expect(await partnerSum(stage)).toEqual(stageBefore);
    expect(await leaked(stage)).toBe(0);
    expect(envRow(stage.id).status).toBe("active");
    expect(
      coord()
        .db.select()
        .from(jobs)
        .where(and(eq(jobs.kind, "db.clone-export"), eq(jobs.status, "running")))
        .all(),
    ).toEqual([]);
  }, 900_000);
  test("a chain cancelled while the copy runs: the copy stops or its upload is deleted; nothing left in S3; staging unchanged unless its restore ended first (said in the log)", async () => {
    const stageBefore = await partnerSum(stage);
    const restoresBefore = new Set(jobsOf("db.restore").map((j) => j.id));
    const exportsBefore = new Set(jobsOf("db.clone-export").map((j) => j.id));
    const chain = await startClone(stage, prod);
    let exportJob: typeof jobs.$inferSelect | undefined;
    for (let i = 0; !(exportJob?.status === "running"); i++) {
      if (i > 600) throw new Error(`the copy never started: ${exportJob?.status}`);
      await Bun.sleep(100);
      exportJob = jobsOf("db.clone-export").find((j) => !exportsBefore.has(j.id));
    }
    expect((await fleet.api("POST", `/jobs/${chain}/cancel`)).status).toBe(200);
    const job = await fleet.waitJob(chain);
    expect(job.status).toBe("cancelled");
    // Cancelled with the chain, unless it finished before the cancel reached it (then its upload
    // existed and the chain's failure hook deleted it): either way nothing is left below.
    expect(["cancelled", "succeeded"]).toContain(coord().jobs.queue.row(exportJob!.id).status);
    expect(await transferObjects()).toEqual([]);
    expect(await pgAdminQuery(`${prod.dbName}%`)).toEqual([prod.dbName]);
    // A restore the chain reached before the cancel ends with it, cancelled (or failed, its
    // transfer deleted under it): staging keeps its data. The agent hears of the cancel at its
    // next heartbeat, so a restore that swapped the copy in before then stays: then staging holds
    // the whole anonymized copy, and the chain's log says so (a busy machine can be that late).
    const restores = jobsOf("db.restore").filter((j) => !restoresBefore.has(j.id));
    const ended = await Promise.all(restores.map((j) => fleet.waitJob(j.id)));
    expect(ended.length).toBeLessThanOrEqual(1);
    const chainLog = coord().jobs.logs.read(chain, 0).text;
    const restore = ended[0];
    if (restore?.status === "succeeded") {
      expect(chainLog).toContain(
        `(job ${restore.id}) had finished before the chain stopped: ${stage.slug} now holds the copy`,
      );
      expect(await leaked(stage)).toBe(0);
      expect((await partnerSum(stage)).n).toBe((await partnerSum(prod)).n);
    } else {
      if (restore) expect(chainLog).toContain(`(job ${restore.id}) ${restore.status}: ${stage.slug} keeps its data`);
      expect(await partnerSum(stage)).toEqual(stageBefore);
    }
  }, 900_000);
  test("the other way: an agent's env cloned to the coordinator; the copy is made on the agent, read from S3 here", async () => {
    const here = coord().fleet.envHost({ hostId: null }).name;
    const dev = await create("xc-dev", "dev", here);
    const exportsBefore = new Set(jobsOf("db.clone-export").map((j) => j.id));
    const stageNow = await partnerSum(stage);
    const job = await clone(dev, stage);
    // Staging is not production: not anonymized by default, the rows arrive as they are.
    expect(job.result).toMatchObject({ fromHost: "xc-agent", toHost: here, anonymized: false });
    const exportJob = jobsOf("db.clone-export").find((j) => !exportsBefore.has(j.id));
    expect(exportJob?.hostId).toBe(agent.daemon.hostId);
    expect(await partnerSum(dev)).toEqual(stageNow);
    expect(await leaked(dev)).toBe(0);
    expect(await transferObjects()).toEqual([]);
    expect(await partnerSum(stage)).toEqual(stageNow);
  }, 900_000);
});
