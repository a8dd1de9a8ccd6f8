/**
 * A DR test whose agent never reports its end: the record follows the job instead of saying
 * "running" forever (`app.request`, real SQLite state). Its host removed mid-test (`host remove`:
 * the running job fails, its running step too), its host offline past the timeout after its agent
 * died (the lease came back, the queued job fails), cancelled while queued, and a job that ended
 * while no listener ran (settled at the next start). A step's own record, when the agent sent
 * one, is kept.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq, sql } from "drizzle-orm";
import { createAgentApp } from "../../src/api/routes/agent";
import { ConfigSchema } from "../../src/config/schema";
import { backups } from "../../src/db/backup.sql";
import { settleEndedDrTests } from "../../src/dr/dr-test-records";
import { drTests } from "../../src/dr/dr-tests.sql";
import { environments } from "../../src/env/env.sql";
import { hosts } from "../../src/fleet/fleet.sql";
import { issueCredential } from "../../src/fleet/hosts";
import { failJobsOfOfflineHosts } from "../../src/fleet/offline-jobs";
import { jobs } from "../../src/jobs/jobs.sql";
import { makeTestApi } from "../support/api";
import { onlineAgent } from "../support/fleet-api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let agentApi: ReturnType<typeof createAgentApp>;
const hostIds: Record<string, string> = {};
const creds: Record<string, string> = {};

beforeAll(async () => {
  t = await makeTestApi({
    config: ConfigSchema.parse({
      role: "coordinator",
      fleet: { heartbeatSec: 10, offlineJobTimeout: "10m" },
      backups: { s3: { bucket: "fleet-backups", prefix: "odooops/" } },
    }),
  });
  agentApi = createAgentApp(t.deps);
  for (const name of ["eu-1", "eu-2", "eu-3"]) {
    hostIds[name] = onlineAgent(t.deps.db, name);
    creds[name] = issueCredential(t.deps.db, hostIds[name]);
  }
  const r = await t.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name: "prod", tier: "production", host: "eu-1" }),
  });
  expect(r.status).toBe(202);
  t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, "prod")).run();
  const envId = t.deps.db
    .select({ id: environments.id })
    .from(environments)
    .where(eq(environments.slug, "prod"))
    .get()!.id;
  t.deps.db
    .insert(backups)
    .values({
      envId,
      kind: "manual",
      status: "completed",
      dbName: "odoo_prod",
      sizeBytes: 100,
      s3Key: "odooops/prod/b/",
      manifest: { format: 1, env: "prod" },
      finishedAt: new Date().toISOString(),
    })
    .run();
});
afterAll(() => t.cleanup());

function agentCall(host: string, path: string, body: unknown) {
  return agentApi.request(`/api/v1/agent${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${creds[host]}` },
    body: JSON.stringify(body),
  });
}

/** A DR test of prod placed on `host`, every other job ended so it is the one a lease finds. */
async function drTestOn(host: string): Promise<{ drTestId: string; jobId: string }> {
  const r = await t.request("/api/v1/dr/tests", { method: "POST", body: JSON.stringify({ env: "prod", host }) });
  expect(r.status).toBe(202);
  const s = ((await r.json()) as { started: { drTestId: string; host: string; job: { id: string } }[] }).started[0]!;
  expect(s.host).toBe(host);
  t.deps.db
    .update(jobs)
    .set({ status: "cancelled" })
    .where(and(sql`${jobs.id} <> ${s.job.id}`, sql`${jobs.status} in ('queued', 'running')`))
    .run();
  return { drTestId: s.drTestId, jobId: s.job.id };
}

async function lease(host: string, jobId: string, leaseMs: number): Promise<string> {
  const owner = `${hostIds[host]}:test`;
  const r = await agentCall(host, "/jobs/lease", { owner, leaseMs });
  expect(r.status).toBe(200);
  expect(((await r.json()) as { job: { id: string } }).job.id).toBe(jobId);
  return owner;
}

const record = (id: string) => t.deps.db.select().from(drTests).where(eq(drTests.id, id)).get()!;

describe("a DR test nobody reports the end of", () => {
  test("its host is removed mid-test: the job and its running step fail, the record says why", async () => {
    const s = await drTestOn("eu-2");
    const owner = await lease("eu-2", s.jobId, 60_000);
    const step = await agentCall("eu-2", `/jobs/${s.jobId}/step`, {
      owner,
      idx: 0,
      patch: { status: "done", output: { backupId: "b", startedAt: "2026-12-05T12:00:00.000Z", rpoSec: 60 } },
    });
    expect(step.status).toBe(200);
    expect(
      (await agentCall("eu-2", `/jobs/${s.jobId}/step`, { owner, idx: 1, patch: { status: "running" } })).status,
    ).toBe(200);
    expect(record(s.drTestId).outcome).toBe("running");

    const r = await t.request("/api/v1/hosts/eu-2", { method: "DELETE" });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ host: "eu-2", abandonedEnvs: [], failedJobs: 1 });
    const job = t.deps.jobs.queue.view(s.jobId);
    expect({ status: job.status, error: job.error }).toEqual({ status: "failed", error: "host eu-2 was removed" });
    expect(job.steps.map((x) => x.status)).toEqual(["done", "failed"]);
    expect(t.deps.jobs.queue.row(s.jobId).leaseOwner).toBeNull();
    expect(record(s.drTestId)).toMatchObject({ outcome: "failed", reason: "host eu-2 was removed", rtoMs: null });
    expect(record(s.drTestId).finishedAt).not.toBeNull();
    // The removed host's agent cannot report it afterwards.
    const late = await agentCall("eu-2", `/jobs/${s.jobId}/finish`, {
      owner,
      outcome: { status: "succeeded", result: {} },
    });
    expect(late.status).toBe(401);
    expect(record(s.drTestId).outcome).toBe("failed");
  });

  test("its agent dies and the host stays offline past the timeout: the requeued job fails, recorded", async () => {
    const s = await drTestOn("eu-3");
    await lease("eu-3", s.jobId, 1_000);
    // The agent was killed: no heartbeat renews its lease, which runs out.
    t.deps.db.update(jobs).set({ leaseExpiresAt: "2000-01-01T00:00:00.000Z" }).where(eq(jobs.id, s.jobId)).run();
    expect(t.deps.jobs.queue.recover()).toBe(1);
    expect(t.deps.jobs.queue.row(s.jobId).status).toBe("queued");
    expect(record(s.drTestId).outcome).toBe("running");
    const at = new Date();
    const lastBeat = new Date(at.getTime() - 3_600_000).toISOString();
    t.deps.db.update(hosts).set({ lastHeartbeatAt: lastBeat }).where(eq(hosts.id, hostIds["eu-3"]!)).run();
    expect(failJobsOfOfflineHosts(t.deps, at)).toEqual([{ host: "eu-3", failed: 1 }]);
    const error = t.deps.jobs.queue.row(s.jobId).error;
    expect(error).toStartWith("host eu-3 has been offline since ");
    expect(record(s.drTestId)).toMatchObject({ outcome: "failed", reason: error });
  });

  test("cancelled before it started: recorded as cancelled", async () => {
    const s = await drTestOn("eu-1");
    expect(t.deps.jobs.queue.cancel(s.jobId).status).toBe("cancelled");
    expect(record(s.drTestId)).toMatchObject({ outcome: "failed", reason: "cancelled" });
  });

  test("a job that ended while nothing listened (a coordinator killed in between): settled at the next start", async () => {
    const s = await drTestOn("eu-1");
    // Written behind the queue's back, as if the process had died before its listener ran.
    t.deps.db.update(jobs).set({ status: "failed", error: "the agent's report" }).where(eq(jobs.id, s.jobId)).run();
    expect(record(s.drTestId).outcome).toBe("running");
    expect(settleEndedDrTests(t.deps.db)).toBe(1);
    expect(record(s.drTestId)).toMatchObject({ outcome: "failed", reason: "the agent's report" });
    expect(settleEndedDrTests(t.deps.db)).toBe(0);
  });

  test("a failure the agent reports keeps its step and reason", async () => {
    const s = await drTestOn("eu-1");
    const owner = await lease("eu-1", s.jobId, 60_000);
    expect(
      (
        await agentCall("eu-1", `/jobs/${s.jobId}/step`, {
          owner,
          idx: 1,
          patch: { status: "failed", error: "health: did not turn healthy within 1 s" },
        })
      ).status,
    ).toBe(200);
    const fin = await agentCall("eu-1", `/jobs/${s.jobId}/finish`, {
      owner,
      outcome: { status: "failed", error: "health: did not turn healthy within 1 s" },
    });
    expect(fin.status).toBe(200);
    expect(record(s.drTestId)).toMatchObject({
      outcome: "failed",
      failedStep: "health",
      reason: "did not turn healthy within 1 s",
    });
  });
});
