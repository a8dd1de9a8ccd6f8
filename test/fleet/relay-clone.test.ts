/**
 * `db clone PROD --to STAGE` across hosts WITHOUT an S3 target, on real services: a coordinator
 * that runs envs itself and an agent, each with its own root, PostgreSQL, nginx and docker
 * prefix (test/support/fleet.ts), and no `backups.s3` anywhere. The checked copy is packed into
 * the source host's transfer directory and the target's restore fetches it through the
 * coordinator with one-time tickets (src/fleet/transfer-relay.ts):
 * - production with personal data on the coordinator → staging on the agent: the agent fetches
 *   over its pinned HTTPS link, the coordinator reads its own disk; no production e-mail in
 *   staging, nothing left in either host's transfer directory;
 * - staging on the agent → a dev env on the coordinator: the agent is asked for each file by its
 *   lease long-poll and uploads it, piped into the coordinator's own restore;
 * - a backup of staging kept only on the agent (no S3 copy), restored into the dev env on the
 *   coordinator: fetched from the agent's own backups directory the same way;
 * - env move of the coordinator's dev env to the agent: its fresh local backup is fetched by the
 *   agent the same way, and the env serves there with the same rows;
 * - a relayed clone cancelled while the target fetches or restores leaves nothing in either
 *   host's transfer directory;
 * - tickets over the real agent API: a forged ticket, a spent one, and one for a restore this
 *   host does not run are refused (403/410), audited, and send nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq, inArray } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import { outgoingDir, transferRoot } from "../../src/db/clone-transfer/relay-dir";
import { readAgentState } from "../../src/daemon/agent-state";
import { environments, type Environment } from "../../src/env/env.sql";
import { AppError } from "../../src/errors";
import { CoordinatorClient } from "../../src/fleet/coordinator-client";
import { jobs } from "../../src/jobs/jobs.sql";
import type { JobView } from "../../src/jobs/view";
import { startFleet, type FleetAgent } from "../support/fleet";
import { fleetEnvs } from "../support/fleet-envs";
import type { PiiGroundTruth } from "../support/pii-fixture";
import { randomSuffix } from "../support/tmp";

let fleet: Awaited<ReturnType<typeof startFleet>>;
let agent: FleetAgent;
let truth: PiiGroundTruth;
let prod: Environment;
let stage: Environment;
const planted: string[] = [];

const TIER = { cpus: 0.5, memoryMb: 768, workers: 0, storageGb: 1 };

beforeAll(async () => {
  fleet = await startFleet({
    coordinatorAddress: "127.0.0.1",
    agents: [{ name: "xr-agent", address: "127.0.0.1" }],
    shared: { tiers: { production: TIER, staging: TIER, dev: TIER } },
  });
  agent = fleet.agents[0]!;
}, 240_000);

afterAll(async () => {
  // Every stage runs even when an earlier one throws: nothing of this file may outlive it.
  await Promise.allSettled([
    (async () => {
      if (planted.length) coord().db.delete(jobs).where(inArray(jobs.id, planted)).run();
    })(),
  ]);
  await Promise.allSettled([fleet?.cleanup()]);
}, 120_000);

const {
  coord,
  envRow,
  asRole,
  cli,
  create,
  seedPii,
  partnerSum,
  startClone,
  clone,
  leaked: leakedPii,
} = fleetEnvs(() => fleet, "xr-admin");
const here = () => coord().fleet.envHost({ hostId: null }).name;
const jobsOf = (kind: string) => coord().db.select().from(jobs).where(eq(jobs.kind, kind)).all();

/** Production's planted addresses still found in a database, by the tag every one of them carries. */
const leaked = (env: Environment) => leakedPii(env, truth.tag, { attachments: false });

/** Every file under a host's transfer directory (none once a transfer is over). */
function transferFiles(dataDir: string): string[] {
  const root = transferRoot({ dataDir });
  try {
    return readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((e) => !e.isDirectory())
      .map((e) => join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

/** The agent's own client: its credential, its pinned certificate, the real HTTPS agent API. */
function agentClient(): CoordinatorClient {
  const state = readAgentState(agent.daemon.paths)!;
  return new CoordinatorClient(state, state.credential);
}

const statusOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 200;
  } catch (e) {
    return e instanceof AppError ? e.status : String(e);
  }
};

describe("db clone across hosts without S3: relayed through the coordinator", () => {
  test("production with personal data on the coordinator, staging on the agent; no S3 configured", async () => {
    expect(coord().config.backups.s3).toBeUndefined();
    await fleet.waitForInventory([here(), "xr-agent"]);
    prod = await create("xr-prod", "production", here());
    stage = await create("xr-stage", "staging", "xr-agent");
    expect(stage.hostId).toBe(agent.daemon.hostId);
    truth = await seedPii(prod);
    // The check below can fail: production holds the planted addresses.
    expect(await leaked(prod)).toBeGreaterThan(0);
  }, 600_000);

  test("the dry run names the relay; the clone reaches staging anonymized; no transfer file left on either host", async () => {
    const dry = await cli(["--json", "db", "clone", prod.slug, "--to", stage.slug, "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout).hosts).toMatchObject({
      source: here(),
      target: "xr-agent",
      path: "relay",
      transfer: "relay through the coordinator",
    });

    const before = await partnerSum(prod);
    const out = await cli(["--json", "db", "clone", prod.slug, "--to", stage.slug, "--yes", "--wait"]);
    const job = JSON.parse(out.stdout || "{}") as JobView;
    if (out.code !== 0) console.error(out.stderr, job.error, coord().jobs.logs.read(job.id, 0).text.slice(-4000));
    expect(out.code).toBe(0);
    expect(job.kind).toBe("db.clone-across");
    expect(job.result).toMatchObject({ anonymized: true, fromHost: here(), toHost: "xr-agent", adminLogin: "admin" });

    // Staging on the agent got production's rows, none of its addresses.
    const staged = await partnerSum(stage);
    expect(staged.n).toBeGreaterThanOrEqual(truth.partners);
    expect(staged.sum).not.toBe(before.sum);
    expect(await leaked(stage)).toBe(0);
    expect((await agent.get(stage.domain, "/web/health?db_server_status=1")).status).toBe(200);

    // The agent fetched every file through the coordinator, each checked against the manifest.
    const restore = jobsOf("db.restore").find((j) => j.lockKey === stage.id)!;
    expect(restore.hostId).toBe(agent.daemon.hostId);
    const restoreLog = coord().jobs.logs.read(restore.id, 0).text;
    for (const f of ["manifest.json", "db.dump", "filestore.tar"])
      expect(restoreLog).toMatch(
        new RegExp(`${f.replace(".", "\\.")} fetched through the coordinator: [1-9]\\d* bytes`),
      );
    const chainLog = coord().jobs.logs.read(job.id, 0).text;
    expect(chainLog).toContain("PII check passed");
    expect(chainLog).toContain("transfer directory");

    // Nothing of the copy on either host; the transfer directories are the daemon's only.
    expect(transferFiles(coord().paths.dataDir)).toEqual([]);
    expect(transferFiles(agent.daemon.paths.dataDir)).toEqual([]);
    expect(statSync(transferRoot(coord().paths)).mode & 0o777).toBe(0o700);
    expect(statSync(transferRoot(agent.daemon.paths)).mode & 0o777).toBe(0o700);
    expect(await partnerSum(prod)).toEqual(before);
    const audit = coord().audit.list({ action: "db.clone" });
    expect(audit[0]?.details).toMatchObject({ path: "relay", transfer: "relay through the coordinator" });
  }, 900_000);

  test("the other way: the agent uploads each file on its lease's request into the coordinator's restore", async () => {
    const dev = await create("xr-dev", "dev", here());
    const stageNow = await partnerSum(stage);
    const job = await clone(dev, stage);
    expect(job.result).toMatchObject({ fromHost: "xr-agent", toHost: here(), anonymized: false });
    expect(await partnerSum(dev)).toEqual(stageNow);
    expect(await leaked(dev)).toBe(0);
    // The agent's pack was deleted by a job on the agent.
    const drop = jobsOf("db.clone-transfer-drop").at(-1);
    expect(drop).toMatchObject({ status: "succeeded", hostId: agent.daemon.hostId });
    expect(transferFiles(coord().paths.dataDir)).toEqual([]);
    expect(transferFiles(agent.daemon.paths.dataDir)).toEqual([]);
    expect(coord().fleet.files.size).toBe(0);
  }, 900_000);

  test("a backup of staging kept only on the agent, restored into the coordinator's dev env: relayed from the agent's backups", async () => {
    const dev = envRow(coord().db.select().from(environments).where(eq(environments.slug, "xr-dev")).get()!.id);
    const made = await fleet.api<JobView>("POST", `/environments/${stage.slug}/backups`);
    expect(made.status).toBe(202);
    expect((await fleet.waitJob(made.body.id)).error).toBeNull();
    const row = coord()
      .db.select()
      .from(backups)
      .where(eq(backups.envId, stage.id))
      .all()
      .find((b) => b.status === "completed" && b.s3Key === null && b.localPath !== null);
    expect(row).toBeDefined();
    // Made after the clones: it differs from dev's rows only if the restore really lands.
    await asRole(
      dev,
      (sql) => sql`UPDATE res_partner SET name = name || ' (dev)' WHERE id = (SELECT min(id) FROM res_partner)`,
    );
    const stageNow = await partnerSum(stage);
    expect(await partnerSum(dev)).not.toEqual(stageNow);

    const dry = await fleet.api<{ plan: { backup: { from: string } } }>(
      "POST",
      `/environments/${dev.slug}/db/restore`,
      {
        from: stage.slug,
        backup: row!.id,
        dryRun: true,
      },
    );
    expect(dry.status).toBe(200);
    expect(dry.body.plan.backup.from).toBe("relay");
    const r = await fleet.api<{ job: JobView }>("POST", `/environments/${dev.slug}/db/restore`, {
      from: stage.slug,
      backup: row!.id,
      confirm: dev.slug,
    });
    expect(r.status).toBe(202);
    const job = await fleet.waitJob(r.body.job.id);
    if (job.error) console.error(coord().jobs.logs.read(job.id, 0).text.slice(-4000));
    expect(job.error).toBeNull();
    expect(coord().jobs.logs.read(job.id, 0).text).toMatch(/db\.dump fetched through the coordinator: [1-9]\d* bytes/);
    expect(await partnerSum(dev)).toEqual(stageNow);
    // The agent's backup stays where it was (it is a backup, not a transfer); nothing left in transit.
    expect(readdirSync(row!.localPath!).sort()).toEqual(["db.dump", "filestore.tar", "manifest.json"]);
    expect(transferFiles(coord().paths.dataDir)).toEqual([]);
    expect(transferFiles(agent.daemon.paths.dataDir)).toEqual([]);
  }, 900_000);

  test("env move of the coordinator's dev env to the agent without S3: its local backup relayed to the agent", async () => {
    const before = envRow(coord().db.select().from(environments).where(eq(environments.slug, "xr-dev")).get()!.id);
    expect(before.hostId).toBe(coord().fleet.localHostId);
    const sum = await partnerSum(before);
    const dry = await fleet.api<{ plan: { transfer: string; steps: string[] } }>(
      "POST",
      `/environments/${before.slug}/move`,
      { to: "xr-agent", dryRun: true },
    );
    expect(dry.status).toBe(200);
    expect(dry.body.plan.transfer).toBe("relay");
    await fleet.waitForInventory([here(), "xr-agent"]);
    const r = await fleet.api<{ job: JobView }>("POST", `/environments/${before.slug}/move`, { to: "xr-agent" });
    expect(r.status).toBe(202);
    const job = await fleet.waitJob(r.body.job.id, 600_000);
    if (job.error) console.error(coord().jobs.logs.read(job.id, 0).text.slice(-4000));
    expect(job.error).toBeNull();
    const moved = envRow(before.id);
    expect(moved.hostId).toBe(agent.daemon.hostId);
    // The agent restored the coordinator's backup, fetched through the coordinator with tickets.
    const restore = jobsOf("db.restore")
      .filter((j) => j.lockKey === before.id)
      .at(-1)!;
    expect(restore.hostId).toBe(agent.daemon.hostId);
    expect(coord().jobs.logs.read(restore.id, 0).text).toMatch(
      /db\.dump fetched through the coordinator: [1-9]\d* bytes/,
    );
    expect(await partnerSum(moved)).toEqual(sum);
    expect((await agent.get(moved.domain, "/web/health?db_server_status=1")).status).toBe(200);
    expect(transferFiles(coord().paths.dataDir)).toEqual([]);
    expect(transferFiles(agent.daemon.paths.dataDir)).toEqual([]);
  }, 900_000);

  test("tickets over the agent API: forged, spent, or for another host's restore — refused, audited, nothing sent", async () => {
    // A restore the agent "runs" reading a pack on the coordinator's disk (planted rows: no job runs them).
    const transferId = `t-${randomSuffix()}`;
    const dir = outgoingDir(coord().paths, "xr-fake", transferId);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "manifest.json"), "the planted manifest");
    const row = (hostId: string | null) => {
      const id = Bun.randomUUIDv7();
      planted.push(id);
      coord()
        .db.insert(jobs)
        .values({
          id,
          kind: "db.restore",
          lockKey: `xr-fake-${id}`,
          status: "running",
          hostId,
          leaseOwner: "test:planted",
          leaseExpiresAt: "2999-01-01T00:00:00.000Z",
          params: {
            transfer: { relay: { hostId: coord().fleet.localHostId, slug: "xr-fake", transferId }, manifest: {} },
          },
        })
        .run();
      return id;
    };
    const mine = row(agent.daemon.hostId);
    const theirs = row(coord().fleet.localHostId);
    const client = agentClient();
    const signal = AbortSignal.timeout(30_000);
    const refusalsBefore = coord().audit.list({ action: "transfer.refused" }).length;

    const { ticket } = await client.post<{ ticket: string }>("/transfers/ticket", {
      jobId: mine,
      file: "manifest.json",
    });
    const body = await client.download("/transfers/fetch", { ticket }, signal);
    expect(await new Response(body).text()).toBe("the planted manifest");
    // Spent: 410. Forged: 403. Another host's restore: no ticket at all (403).
    expect(await statusOf(client.download("/transfers/fetch", { ticket }, signal))).toBe(410);
    expect(await statusOf(client.download("/transfers/fetch", { ticket: "A".repeat(43) }, signal))).toBe(403);
    expect(await statusOf(client.post("/transfers/ticket", { jobId: theirs, file: "manifest.json" }))).toBe(403);
    // Not a pack's file: refused before anything (400).
    expect(await statusOf(client.post("/transfers/ticket", { jobId: mine, file: "../secret.key" }))).toBe(400);
    // Without the agent's credential nothing of the transfer API answers.
    const state = readAgentState(agent.daemon.paths)!;
    const anonymous = new CoordinatorClient(state, null);
    expect(await statusOf(anonymous.post("/transfers/ticket", { jobId: mine, file: "db.dump" }))).toBe(401);
    expect(await statusOf(anonymous.upload("/transfers/upload/nobody", new Blob(["x"]), signal))).toBe(401);
    // An upload nobody asked this host for goes nowhere.
    expect(await statusOf(client.upload("/transfers/upload/nobody", new Blob(["x"]), signal))).toBe(404);

    const refusals = coord().audit.list({ action: "transfer.refused" });
    expect(refusals.length - refusalsBefore).toBe(3);
    expect(refusals[0]).toMatchObject({ actor: "host:xr-agent", outcome: "denied" });
    // The planted pack is as it was: a refusal sends and deletes nothing.
    expect(transferFiles(coord().paths.dataDir)).toEqual([join(dir, "manifest.json")]);
    rmSync(dir, { recursive: true });
  }, 120_000);
  test("a relayed clone cancelled while the target fetches or restores: nothing left in either transfer directory", async () => {
    const restoresBefore = new Set(jobsOf("db.restore").map((j) => j.id));
    const chain = await startClone(stage, prod);
    let restore: typeof jobs.$inferSelect | undefined;
    for (let i = 0; restore?.status !== "running"; i++) {
      if (i > 2400) throw new Error(`the restore never started: ${restore?.status}`);
      await Bun.sleep(100);
      restore = jobsOf("db.restore").find((j) => !restoresBefore.has(j.id));
    }
    expect((await fleet.api("POST", `/jobs/${chain}/cancel`)).status).toBe(200);
    const job = await fleet.waitJob(chain);
    const ended = await fleet.waitJob(restore.id);
    // Cancelled with the chain — unless it finished before the cancel reached it: then the copy
    // was already in (and a busy machine can be late enough for the whole chain to have ended,
    // the cancel then changing nothing); either way nothing is left behind.
    expect(["cancelled", "succeeded"]).toContain(job.status);
    if (job.status === "succeeded") expect(ended.status).toBe("succeeded");
    expect(["cancelled", "succeeded", "failed"]).toContain(ended.status);
    expect(transferFiles(coord().paths.dataDir)).toEqual([]);
    expect(transferFiles(agent.daemon.paths.dataDir)).toEqual([]);
    expect(await leaked(stage)).toBe(0);
  }, 900_000);
});
