/**
 * `dr test` on another host, as the coordinator decides and records it (`app.request`, real SQLite
 * state): which host each test goes to and why, `--host` refusals that record nothing, the
 * params the other host needs (no secrets), and the agent's finish report — recorded only for a
 * dr-test job leased to the reporting host with a result naming its own test (else 403, audited,
 * nothing written). test/dr/dr-test-other-host.test.ts runs one on a real agent.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq, sql } from "drizzle-orm";
import { createAgentApp } from "../../src/api/routes/agent";
import { auditLogs } from "../../src/audit/audit.sql";
import { ConfigSchema } from "../../src/config/schema";
import { backups } from "../../src/db/backup.sql";
import { deployments } from "../../src/deploy/deploy.sql";
import { drTests } from "../../src/dr/dr-tests.sql";
import { environments } from "../../src/env/env.sql";
import { hosts } from "../../src/fleet/fleet.sql";
import { issueCredential, recordHeartbeat } from "../../src/fleet/hosts";
import { jobSteps, jobs } from "../../src/jobs/jobs.sql";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";
import { onlineAgent, ROOMY_INVENTORY } from "../support/fleet-api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let agentApi: ReturnType<typeof createAgentApp>;
const hostIds: Record<string, string> = {};
const creds: Record<string, string> = {};
const envIds: Record<string, string> = {};
const backupIds: Record<string, string> = {};

const recorded = () => t.deps.db.select({ n: sql<number>`count(*)` }).from(drTests).get()!.n;
const queued = () => t.deps.db.select({ n: sql<number>`count(*)` }).from(jobs).get()!.n;

interface Started {
  started: {
    env: string;
    drTestId: string;
    backupId: string;
    host: string;
    hostReason: string | null;
    job: { id: string };
  }[];
  error?: { message: string };
}

async function drTest(body: Record<string, unknown>): Promise<{ status: number; body: Started }> {
  const r = await t.request("/api/v1/dr/tests", { method: "POST", body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Started };
}

function agentCall(host: string, path: string, body: unknown) {
  return agentApi.request(`/api/v1/agent${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${creds[host]}` },
    body: JSON.stringify(body),
  });
}

/** Every job but `keep` ends (env creates, earlier tests): the next lease finds `keep`. */
function onlyJob(keep: string) {
  t.deps.db
    .update(jobs)
    .set({ status: "cancelled" })
    .where(and(sql`${jobs.id} <> ${keep}`, sql`${jobs.status} in ('queued', 'running')`))
    .run();
}

beforeAll(async () => {
  t = await makeTestApi({
    config: ConfigSchema.parse({
      role: "coordinator",
      fleet: { heartbeatSec: 10 },
      backups: { s3: { bucket: "fleet-backups", prefix: "odooops/" } },
    }),
  });
  agentApi = createAgentApp(t.deps);
  for (const name of ["eu-1", "eu-2"]) {
    const id = onlineAgent(t.deps.db, name);
    hostIds[name] = id;
    creds[name] = issueCredential(t.deps.db, id);
  }
  for (const [name, tier] of [
    ["prod", "production"],
    ["dev", "dev"],
    ["rel", "staging"],
  ] as const) {
    const r = await t.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name, tier, host: "eu-1" }),
    });
    expect(r.status).toBe(202);
    t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, name)).run();
    envIds[name] = t.deps.db
      .select({ id: environments.id })
      .from(environments)
      .where(eq(environments.slug, name))
      .get()!.id;
  }
  for (const [key, slug, s3Key] of [
    ["prod", "prod", "odooops/prod/b/"],
    ["dev", "dev", null],
    ["rel", "rel", "odooops/rel/b/"],
  ] as const) {
    backupIds[key] = t.deps.db
      .insert(backups)
      .values({
        envId: envIds[slug]!,
        kind: "manual",
        status: "completed",
        dbName: `odoo_${slug}`,
        sizeBytes: 100,
        localPath: s3Key ? null : `/var/lib/odooops/backups/${slug}/b`,
        s3Key,
        manifest: { format: 1, env: slug },
        finishedAt: new Date().toISOString(),
      })
      .returning()
      .get().id;
  }
});
afterAll(() => t.cleanup());

describe("where a DR test runs", () => {
  test("another host when it can read the backup from S3; the job carries the env without secrets", async () => {
    const r = await drTest({ env: "prod" });
    expect(r.status).toBe(202);
    const s = r.body.started[0]!;
    expect(s).toMatchObject({ env: "prod", backupId: backupIds.prod, host: "eu-2", hostReason: null });
    const job = t.deps.jobs.queue.row(s.job.id);
    expect(job.hostId).toBe(hostIds["eu-2"]!);
    const remote = job.params.remote as { env: Record<string, unknown>; backup: unknown; image: string };
    expect(remote.backup).toMatchObject({
      transfer: { s3Key: "odooops/prod/b/", manifest: { format: 1, env: "prod" } },
    });
    expect(remote.env).toMatchObject({ id: envIds.prod, slug: "prod", hostId: hostIds["eu-1"] });
    for (const secret of ["dbPassword", "adminPasswd", "odooAdminPassword", "dbPasswordEnc", "adminPasswdEnc"])
      expect(remote.env).not.toHaveProperty(secret);
    expect(remote.image).toBe(
      t.deps.db.select().from(environments).where(eq(environments.id, envIds.prod!)).get()!.odooImage,
    );
    const row = t.deps.db.select().from(drTests).where(eq(drTests.id, s.drTestId)).get()!;
    expect(row).toMatchObject({ hostId: hostIds["eu-2"], hostReason: null, jobId: s.job.id });
  });

  test("the env's own host, with the reason: no S3 copy, image not in a registry", async () => {
    const dev = await drTest({ env: "dev" });
    expect(dev.body.started[0]).toMatchObject({ host: "eu-1", hostReason: "no S3 copy" });
    expect(t.deps.jobs.queue.row(dev.body.started[0]!.job.id)).toMatchObject({ hostId: hostIds["eu-1"] });
    expect(t.deps.jobs.queue.row(dev.body.started[0]!.job.id).params.remote).toBeUndefined();

    // A release image built on eu-1 and never pushed cannot run elsewhere ...
    const deployJob = t.deps.db
      .insert(jobs)
      .values({ kind: "deploy", params: {}, status: "succeeded", hostId: hostIds["eu-1"] })
      .returning()
      .get();
    const d = t.deps.db
      .insert(deployments)
      .values({ envId: envIds.rel!, release: 1, image: "odooops-rel:abc123", status: "success", jobId: deployJob.id })
      .returning()
      .get();
    t.deps.db.update(environments).set({ currentDeploymentId: d.id }).where(eq(environments.id, envIds.rel!)).run();
    t.deps.db
      .insert(jobSteps)
      .values({
        jobId: deployJob.id,
        idx: 0,
        name: "build",
        title: "build",
        status: "done",
        output: { image: "odooops-rel:abc123", reused: false, id: "sha256:1" },
      })
      .run();
    const unpushed = await drTest({ env: "rel" });
    expect(unpushed.body.started[0]).toMatchObject({ host: "eu-1", hostReason: "image not in a registry" });
    const refused = await drTest({ env: "rel", host: "eu-2" });
    expect(refused.status).toBe(409);
    expect(refused.body.error?.message).toBe(
      "dr test --host eu-2: image not in a registry: release image odooops-rel:abc123 was built on the env's host and never pushed (deploy.registry)",
    );
    // ... and runs there once the deploy pushed it to the registry: the other host pulls that copy.
    t.deps.db
      .update(jobSteps)
      .set({
        output: {
          image: "odooops-rel:abc123",
          reused: false,
          id: "sha256:1",
          pushed: "registry.test/odooops-rel:abc123",
        },
      })
      .where(eq(jobSteps.jobId, deployJob.id))
      .run();
    const pushed = await drTest({ env: "rel" });
    expect(pushed.body.started[0]).toMatchObject({ host: "eu-2", hostReason: null });
    expect(t.deps.jobs.queue.row(pushed.body.started[0]!.job.id).params.remote).toMatchObject({
      image: "registry.test/odooops-rel:abc123",
    });
  });

  test("--host names the host, the env's own too; unknown, draining or offline: refused, nothing recorded", async () => {
    const own = await drTest({ env: "prod", host: "eu-1" });
    expect(own.status).toBe(202);
    expect(own.body.started[0]).toMatchObject({ host: "eu-1", hostReason: null });
    expect(t.deps.jobs.queue.row(own.body.started[0]!.job.id).hostId).toBe(hostIds["eu-1"]!);

    const before = { tests: recorded(), jobs: queued() };
    const unknown = await drTest({ env: "prod", host: "nope" });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error?.message).toBe("dr test --host nope: no host nope (hosts: eu-1, eu-2)");
    t.deps.db.update(hosts).set({ draining: true }).where(eq(hosts.id, hostIds["eu-2"]!)).run();
    const draining = await drTest({ env: "prod", host: "eu-2" });
    expect(draining.status).toBe(409);
    expect(draining.body.error?.message).toBe("dr test --host eu-2: host is draining: it takes no new work");
    // Not asked: the env's own host, with why.
    const fallback = await drTest({ env: "prod" });
    expect(fallback.body.started[0]?.hostReason).toBe("no other host available (eu-2: draining)");
    t.deps.db
      .update(hosts)
      .set({ draining: false, lastHeartbeatAt: "2026-01-01T00:00:00.000Z" })
      .where(eq(hosts.id, hostIds["eu-2"]!))
      .run();
    const offline = await drTest({ env: "prod", host: "eu-2" });
    expect(offline.status).toBe(409);
    expect(offline.body.error?.message).toBe("dr test --host eu-2: host is offline since 2026-01-01T00:00:00.000Z");
    const all = await drTest({ host: "eu-2" });
    expect(all.status).toBe(400);
    expect({ tests: recorded(), jobs: queued() }).toEqual({ tests: before.tests + 1, jobs: before.jobs + 1 });
    recordHeartbeat(t.deps.db, hostIds["eu-2"]!, { inventory: ROOMY_INVENTORY, containers: [] });
  });
});

describe("the agent's finish report records the test", () => {
  async function leasedRemoteTest() {
    const r = await drTest({ env: "prod", host: "eu-2" });
    expect(r.status).toBe(202);
    const s = r.body.started[0]!;
    onlyJob(s.job.id);
    const owner = `${hostIds["eu-2"]}:test`;
    const lease = await agentCall("eu-2", "/jobs/lease", { owner, leaseMs: 30_000 });
    expect(lease.status).toBe(200);
    expect(((await lease.json()) as { job: { id: string } }).job.id).toBe(s.job.id);
    return { ...s, owner };
  }
  const result = (s: { drTestId: string; backupId: string }) => ({
    drTestId: s.drTestId,
    backupId: s.backupId,
    rtoMs: 4_200,
    rpoSec: 360,
    startedAt: "2026-12-05T12:00:00.000Z",
    image: "odoo:17",
  });
  const refusals = () =>
    t.deps.db.select().from(auditLogs).where(eq(auditLogs.action, "host.state.refused")).all().length;

  test("a result naming another test, or a finish from another host: 403, audited, nothing written", async () => {
    const s = await leasedRemoteTest();
    const other = t.deps.db.select().from(drTests).where(sql`${drTests.id} <> ${s.drTestId}`).get()!;
    const audits = refusals();
    const forged = await agentCall("eu-2", `/jobs/${s.job.id}/finish`, {
      owner: s.owner,
      outcome: { status: "succeeded", result: { ...result(s), drTestId: other.id } },
    });
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as { error: { message: string } }).error.message).toContain(
      `its result names backup ${s.backupId} (test ${other.id})`,
    );
    const foreign = await agentCall("eu-1", `/jobs/${s.job.id}/finish`, {
      owner: `${hostIds["eu-1"]}:test`,
      outcome: { status: "succeeded", result: result(s) },
    });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { error: { message: string } }).error.message).toBe(
      `DR test job ${s.job.id} was not leased to host eu-1`,
    );
    expect(refusals()).toBe(audits + 2);
    expect(t.deps.jobs.queue.row(s.job.id).status).toBe("running");
    expect(t.deps.db.select().from(drTests).where(eq(drTests.id, s.drTestId)).get()).toMatchObject({
      outcome: "running",
      rtoMs: null,
    });
    expect(t.deps.db.select().from(drTests).where(eq(drTests.id, other.id)).get()?.outcome).toBe(other.outcome);

    const ok = await agentCall("eu-2", `/jobs/${s.job.id}/finish`, {
      owner: s.owner,
      outcome: { status: "succeeded", result: result(s) },
    });
    expect(ok.status).toBe(200);
    expect(t.deps.db.select().from(drTests).where(eq(drTests.id, s.drTestId)).get()).toMatchObject({
      outcome: "passed",
      rtoMs: 4_200,
      rpoSec: 360,
      startedAt: "2026-12-05T12:00:00.000Z",
      hostId: hostIds["eu-2"],
    });
    const list = (await (await t.request("/api/v1/dr/tests?env=prod")).json()) as {
      tests: { id: string; host: string | null; hostReason: string | null }[];
    };
    expect(list.tests.find((x) => x.id === s.drTestId)).toMatchObject({ host: "eu-2", hostReason: null });
  });

  test("a finish reported late (the coordinator was away) records the test too", async () => {
    const s = await leasedRemoteTest();
    const late = await agentCall("eu-2", "/jobs/late-finish", {
      jobId: s.job.id,
      owner: s.owner,
      attempt: t.deps.jobs.queue.row(s.job.id).attempts,
      steps: [],
      lines: [],
      outcome: { status: "succeeded", result: result(s) },
    });
    expect(late.status).toBe(200);
    expect(await late.json()).toMatchObject({ take: true });
    expect(t.deps.jobs.queue.row(s.job.id).status).toBe("succeeded");
    expect(t.deps.db.select().from(drTests).where(eq(drTests.id, s.drTestId)).get()).toMatchObject({
      outcome: "passed",
      rtoMs: 4_200,
      hostId: hostIds["eu-2"],
    });
  });

  test("a failure: the step it failed at and why, from the job's step reports", async () => {
    const s = await leasedRemoteTest();
    const step = (idx: number, patch: Record<string, unknown>) =>
      agentCall("eu-2", `/jobs/${s.job.id}/step`, { owner: s.owner, idx, patch });
    expect(
      (
        await step(0, {
          status: "done",
          output: { backupId: s.backupId, startedAt: "2026-12-05T13:00:00.000Z", rpoSec: 60 },
        })
      ).status,
    ).toBe(200);
    expect((await step(1, { status: "failed", error: "verify: db.dump does not match its manifest" })).status).toBe(
      200,
    );
    const fin = await agentCall("eu-2", `/jobs/${s.job.id}/finish`, {
      owner: s.owner,
      outcome: { status: "failed", error: "verify: db.dump does not match its manifest" },
    });
    expect(fin.status).toBe(200);
    expect(t.deps.db.select().from(drTests).where(eq(drTests.id, s.drTestId)).get()).toMatchObject({
      outcome: "failed",
      failedStep: "verify",
      reason: "db.dump does not match its manifest",
      rpoSec: 60,
      startedAt: "2026-12-05T13:00:00.000Z",
    });
  });
});

describe("the CLI", () => {
  const cli = (...argv: string[]) =>
    runCliWith(argv, {
      fetch: (u, i) => t.fetch(u, i),
      env: { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: t.token },
    });

  test("dr test --host: where it runs and why; refusals exit non-zero with the reason", async () => {
    const other = await cli("dr", "test", "--env", "prod", "--host", "eu-2");
    expect(other.code).toBe(0);
    expect(other.stderr).toContain(`testing prod with backup ${backupIds.prod} on eu-2: follow with odooops jobs wait`);
    const own = await cli("dr", "test", "--env", "dev");
    expect(own.stderr).toContain(`testing dev with backup ${backupIds.dev} on eu-1 (no S3 copy):`);
    const before = recorded();
    const unknown = await cli("dr", "test", "--env", "prod", "--host", "nope");
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("dr test --host nope: no host nope (hosts: eu-1, eu-2)");
    const noEnv = await cli("dr", "test", "--host", "eu-2");
    expect(noEnv.code).not.toBe(0);
    expect(noEnv.stderr).toContain("dr test --host names the host of one environment's test: add --env");
    expect(recorded()).toBe(before);
  });

  test("dr reports shows the host and why it was the env's own; --json has both", async () => {
    const table = await cli("dr", "reports", "--env", "dev");
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^WHEN\s+ENV\s+OUTCOME\s+RTO\s+RPO\s+HOST\s+BACKUP\s+FAILED AT$/);
    expect(lines.slice(1).every((l) => /dev\s+\S+\s+-\s+-\s+eu-1 \(no S3 copy\)\s/.test(l))).toBe(true);
    const json = JSON.parse((await cli("dr", "reports", "--env", "prod", "--json")).stdout) as {
      tests: { host: string | null; hostReason: string | null }[];
    };
    expect(json.tests[0]).toMatchObject({ host: "eu-2", hostReason: null });
  });
});
