/**
 * The fleet's state link against the real coordinator app and queue (in-process requests, real
 * SQLite on both sides, each with its own SecretBox): what a lease carries, the agent's copy,
 * the changes reported back with step and finish, the result's secrets re-sealed, and the
 * attacks — a real agent credential posting another host's env, a moved env, a backup for
 * another host's env — refused with 403, audited, and nothing written.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { eq, getTableColumns } from "drizzle-orm";
import type { z } from "zod";
import { SecretBox } from "../../src/auth/secretbox";
import { backups } from "../../src/db/backup.sql";
import { deployments } from "../../src/deploy/deploy.sql";
import { environments, projects } from "../../src/env/env.sql";
import { recordOdooAdminPassword, recordServing, markStopped } from "../../src/env/state";
import { MirrorLink } from "../../src/fleet/mirror";
import { BackupWire, DeploymentWire, EnvironmentWire, ProjectWire } from "../../src/fleet/schema";
import { Agent } from "../../src/jobs/agent";
import { defineJob, EnvJobTarget, onEnv } from "../../src/jobs/define";
import { HttpJobChannel } from "../../src/jobs/http-channel";
import { jobs } from "../../src/jobs/jobs.sql";
import { databaseReplacedSince } from "../../src/deploy/records";
import { withSealedSecrets } from "../../src/jobs/secrets";
import { TERMINAL } from "../../src/jobs/status";
import { openState, type Db } from "../../src/state/db";
import { type ClientCoordinator, startClientCoordinator } from "../support/fleet-api";
import { makeTempDir, removeTempDir } from "../support/tmp";

type P = z.infer<typeof EnvJobTarget>;
/** Writes through the owners in its step, as env jobs do: a container now serves, a new admin password. */
const serveProbe = defineJob<P>({
  kind: "mirror-probe",
  params: EnvJobTarget,
  ...onEnv,
  steps: [
    {
      name: "serve",
      title: "Serve",
      async run(ctx) {
        recordServing(ctx.deps.db, ctx.params.envId, {
          containerName: `${ctx.params.slug}-r1`,
          httpPort: 41000,
          longpollPort: 41001,
          release: 1,
        });
        recordOdooAdminPassword(ctx.deps.db, ctx.params.envId, ctx.deps.box.seal("fresh-admin-pw"));
      },
    },
    {
      name: "stop",
      title: "Stop",
      async run(ctx) {
        markStopped(ctx.deps.db, ctx.params.envId);
      },
    },
  ],
  async succeeded(ctx) {
    const env = ctx.deps.db.select().from(environments).where(eq(environments.id, ctx.params.envId)).get();
    return withSealedSecrets({ ok: true }, { odooAdminPassword: env?.odooAdminPasswordEnc ?? "" });
  },
});

let t: ClientCoordinator["t"];
let agentApp: ClientCoordinator["agentApp"];
let client: ClientCoordinator["client"];
let agentRoot: string;
let agentDb: Db;
let agentBox: SecretBox;

let hostA: { hostId: string; credential: string };
let hostB: { hostId: string; credential: string };
let projectId: string;

function coordinatorEnv(name: string, hostId: string | null) {
  return t.deps.db
    .insert(environments)
    .values({
      projectId,
      name,
      slug: name,
      tier: "dev",
      status: "active",
      hostId,
      odooImage: "odoo:17.0",
      domain: `${name}.test`,
      dbName: `odoo_${name}`,
      dbUser: `odoo_${name}`,
      dbPasswordEnc: t.deps.box.seal(`db-pw-${name}`),
      adminPasswdEnc: t.deps.box.seal(`master-${name}`),
      odooAdminPasswordEnc: t.deps.box.seal(`admin-${name}`),
      cpus: "1",
      memoryMb: 512,
      modules: ["base"],
    })
    .returning()
    .get();
}

const coordRow = (id: string) => t.deps.db.select().from(environments).where(eq(environments.id, id)).get();
const agentRow = (id: string) => agentDb.select().from(environments).where(eq(environments.id, id)).get();

function enqueue(env: { id: string; slug: string }) {
  return t.deps.jobs.enqueue(serveProbe, { envId: env.id, slug: env.slug }, "admin");
}

beforeAll(async () => {
  const coordinator = await startClientCoordinator({ extraJobs: [serveProbe] });
  ({ t, agentApp, client } = coordinator);
  hostA = await coordinator.joinHost("mirror-a");
  hostB = await coordinator.joinHost("mirror-b");
  projectId = t.deps.db
    .insert(projects)
    .values({
      name: "p-mirror",
      repoPasswordEnc: t.deps.box.seal("repo-pw"),
      webhookSecretEnc: t.deps.box.seal("webhook-secret-never-leaves"),
    })
    .returning()
    .get().id;
  agentRoot = makeTempDir("odooops-mirror-agent-");
  agentDb = openState(join(agentRoot, "state/odooops.db"));
  agentBox = SecretBox.fromFile(join(agentRoot, "secret.key"));
});
afterAll(() => {
  agentDb?.$client.close();
  if (agentRoot) removeTempDir(agentRoot);
  t?.cleanup();
});

const owner = () => `${hostA.hostId}:${crypto.randomUUID().slice(0, 8)}`;

describe("the wire rows", () => {
  test("name every column of their table (sealed ones open), so a new column cannot be dropped silently", () => {
    const keys = (o: object) => Object.keys(o).sort();
    const renamed = (cols: string[], map: Record<string, string | null>) =>
      cols.flatMap((c) => (c in map ? (map[c] ? [map[c]] : []) : [c])).sort();
    expect(keys(EnvironmentWire.shape)).toEqual(
      renamed(Object.keys(getTableColumns(environments)), {
        dbPasswordEnc: "dbPassword",
        adminPasswdEnc: "adminPasswd",
        odooAdminPasswordEnc: "odooAdminPassword",
        // A move's hosts stay on the coordinator: each agent sees the env as placed on itself.
        movingToHostId: null,
        movedFromHostId: null,
      }),
    );
    expect(keys(ProjectWire.shape)).toEqual(
      renamed(Object.keys(getTableColumns(projects)), {
        repoPasswordEnc: "repoPassword",
        accessPasswordEnc: "accessPassword",
        webhookSecretEnc: null,
      }),
    );
    expect(keys(DeploymentWire.shape)).toEqual(keys(getTableColumns(deployments)));
    expect(keys(BackupWire.shape)).toEqual(keys(getTableColumns(backups)));
  });
});

describe("a lease carries the host's slice", () => {
  test("its host's live envs only, the job env's history, secrets sealed again with the agent's box", async () => {
    const mine = coordinatorEnv("ma-one", hostA.hostId);
    const neighbour = coordinatorEnv("ma-two", hostA.hostId);
    const other = coordinatorEnv("mb-one", hostB.hostId);
    const local = coordinatorEnv("mc-local", null);
    const backup = t.deps.db
      .insert(backups)
      .values({ envId: mine.id, kind: "manual", status: "completed", dbName: mine.dbName })
      .returning()
      .get();
    const job = enqueue(mine);
    const mirror = new MirrorLink({ db: agentDb, box: agentBox }, hostA.hostId);
    const ch = new HttpJobChannel(client(hostA.credential), 0, mirror);
    const o = owner();
    const leased = await ch.lease({ hostId: hostA.hostId, owner: o }, 30_000);
    expect(leased?.job.id).toBe(job.id);
    // The runner sees the usual LeasedJob: the state went to the agent's database.
    expect(Object.keys(leased ?? {}).sort()).toEqual(["job", "steps"]);
    const ids = agentDb
      .select({ id: environments.id })
      .from(environments)
      .all()
      .map((r) => r.id);
    expect(ids.sort()).toEqual([mine.id, neighbour.id].sort());
    expect(ids).not.toContain(other.id);
    expect(ids).not.toContain(local.id);
    const copy = agentRow(mine.id)!;
    expect(agentBox.open(copy.dbPasswordEnc)).toBe("db-pw-ma-one");
    expect(copy.dbPasswordEnc).not.toBe(mine.dbPasswordEnc);
    expect(() => t.deps.box.open(copy.dbPasswordEnc)).toThrow();
    const project = agentDb.select().from(projects).where(eq(projects.id, projectId)).get()!;
    expect(agentBox.open(project.repoPasswordEnc!)).toBe("repo-pw");
    expect(project.webhookSecretEnc).toBeNull();
    // The basic-auth password of protected tiers exists before it travels, the same on both sides.
    const coordProject = t.deps.db.select().from(projects).where(eq(projects.id, projectId)).get()!;
    expect(agentBox.open(project.accessPasswordEnc!)).toBe(t.deps.box.open(coordProject.accessPasswordEnc!));
    expect(
      agentDb
        .select()
        .from(backups)
        .all()
        .map((b) => b.id),
    ).toEqual([backup.id]);
    await ch.finish(job.id, o, { status: "cancelled", error: "test" });
    // Nothing changed on the agent: the coordinator's row is as it was, sealed with its own box.
    expect(coordRow(mine.id)).toEqual(mine);
  });
});

describe("the migration guard's history", () => {
  test("the job env's finished restores, clones and imports reach the agent: databaseReplacedSince answers there as on the coordinator", async () => {
    const mine = coordinatorEnv("mr-one", hostA.hostId);
    const other = coordinatorEnv("mr-other", hostA.hostId);
    const past = (lockKey: string, kind: string, finishedAt: string, status: "succeeded" | "failed" = "succeeded") =>
      t.deps.db
        .insert(jobs)
        .values({ kind, params: {}, lockKey, status, finishedAt, hostId: hostA.hostId })
        .returning()
        .get();
    const restore = past(mine.id, "db.restore", "2026-03-01T10:00:00.000Z");
    past(mine.id, "db.clone", "2026-03-02T10:00:00.000Z", "failed");
    past(mine.id, "env.stop", "2026-03-03T10:00:00.000Z");
    past(other.id, "db.import", "2026-03-04T10:00:00.000Z");
    const before = "2026-02-01T00:00:00.000Z";
    expect(databaseReplacedSince(t.deps.db, mine.id, before)).toBe(true);
    expect(databaseReplacedSince(agentDb, mine.id, before)).toBe(false);

    const job = enqueue(mine);
    const mirror = new MirrorLink({ db: agentDb, box: agentBox }, hostA.hostId);
    const ch = new HttpJobChannel(client(hostA.credential), 0, mirror);
    const o = owner();
    expect((await ch.lease({ hostId: hostA.hostId, owner: o }, 30_000))?.job.id).toBe(job.id);
    for (const since of [null, before, "2026-03-01T09:59:59.000Z", "2026-03-01T10:00:00.000Z"])
      expect(databaseReplacedSince(agentDb, mine.id, since)).toBe(databaseReplacedSince(t.deps.db, mine.id, since));
    expect(databaseReplacedSince(agentDb, mine.id, before)).toBe(true);
    // Only the succeeded replacing jobs of the job's env: not a failed clone, not another env's import.
    expect(agentDb.select({ id: jobs.id, kind: jobs.kind }).from(jobs).all()).toEqual([
      { id: restore.id, kind: "db.restore" },
    ]);
    expect(databaseReplacedSince(agentDb, other.id, null)).toBe(false);
    await ch.finish(job.id, o, { status: "cancelled", error: "test" });
  });
});

describe("a deploy waiting for approval on an agent", () => {
  test("the wait reaches the coordinator with the lease heartbeat; the approval given there reaches the agent's copy with the next one, and is not reported back", async () => {
    const env = coordinatorEnv("ma-approve", hostA.hostId);
    const dep = t.deps.db
      .insert(deployments)
      .values({ envId: env.id, release: 1, status: "testing", commitSha: "a".repeat(40) })
      .returning()
      .get();
    const job = enqueue(env);
    const mirror = new MirrorLink({ db: agentDb, box: agentBox }, hostA.hostId);
    const ch = new HttpJobChannel(client(hostA.credential), 0, mirror);
    const o = owner();
    expect((await ch.lease({ hostId: hostA.hostId, owner: o }, 30_000))?.job.id).toBe(job.id);
    const approve = () =>
      t.request(`/api/v1/deployments/${dep.id}/approve`, { method: "POST", body: JSON.stringify({ reason: "ok" }) });
    const agentDep = () => agentDb.select().from(deployments).where(eq(deployments.id, dep.id)).get()!;

    // The approval step on the agent starts waiting (what awaitApproval writes to its copy).
    agentDb
      .update(deployments)
      .set({ status: "awaiting_approval", approvalDeadline: "2099-01-01T00:00:00.000Z" })
      .where(eq(deployments.id, dep.id))
      .run();
    expect((await approve()).status).toBe(409);
    await ch.heartbeat(job.id, o, 30_000);
    const waiting = t.deps.db.select().from(deployments).where(eq(deployments.id, dep.id)).get()!;
    expect(waiting.status).toBe("awaiting_approval");
    expect(waiting.approvalDeadline).toBe("2099-01-01T00:00:00.000Z");

    expect((await approve()).status).toBe(200);
    expect(agentDep().approvalDecision).toBeNull();
    await ch.heartbeat(job.id, o, 30_000);
    const seen = agentDep();
    expect(seen.approvalDecision).toBe("approved");
    expect(seen.approvalBy).toBe("admin");
    expect(seen.approvalReason).toBe("ok");
    expect(mirror.report(job.id)).toBeNull();

    // A decision for a deployment of an env the job does not hold changes nothing here.
    const other = coordinatorEnv("ma-approve-other", hostA.hostId);
    const foreign = t.deps.db.insert(deployments).values({ envId: other.id, release: 1 }).returning().get();
    mirror.decided(job.id, [
      { id: foreign.id, approvalDecision: "approved", approvalBy: "x", approvalReason: null, approvalAt: null },
    ]);
    expect(agentDb.select().from(deployments).where(eq(deployments.id, foreign.id)).get()).toBeUndefined();
    await ch.finish(job.id, o, { status: "cancelled", error: "test" });
  });
});

describe("jobs side by side on one agent", () => {
  test("a running job's env keeps its unreported changes when another job's lease brings the slice", async () => {
    const mine = coordinatorEnv("ma-held", hostA.hostId);
    const other = coordinatorEnv("ma-beside", hostA.hostId);
    const mirror = new MirrorLink({ db: agentDb, box: agentBox }, hostA.hostId);
    const ch = new HttpJobChannel(client(hostA.credential), 0, mirror);
    const first = enqueue(mine);
    const o1 = owner();
    expect((await ch.lease({ hostId: hostA.hostId, owner: o1 }, 30_000))?.job.id).toBe(first.id);
    // The first job's step changed its env here and has not reported it yet.
    const serving = { containerName: "ma-held-r1", httpPort: 42000, longpollPort: 42001, release: 1 };
    recordServing(agentDb, mine.id, serving);
    const second = enqueue(other);
    const o2 = owner();
    expect((await ch.lease({ hostId: hostA.hostId, owner: o2 }, 30_000))?.job.id).toBe(second.id);
    expect(agentRow(mine.id)).toMatchObject(serving);
    expect(mirror.report(first.id)?.state).toMatchObject({ environments: [{ id: mine.id, set: serving }] });
    await ch.finish(second.id, o2, { status: "succeeded", result: null });

    // The first job's lease is lost (finished here by someone else, as after a requeue): the next
    // lease on the same env brings the coordinator's row back and the old job holds nothing.
    await new HttpJobChannel(client(hostA.credential), 0).finish(first.id, o1, { status: "failed", error: "lost" });
    const third = enqueue(mine);
    const o3 = owner();
    expect((await ch.lease({ hostId: hostA.hostId, owner: o3 }, 30_000))?.job.id).toBe(third.id);
    expect(agentRow(mine.id)).toMatchObject({ httpPort: null, containerName: null });
    expect(mirror.report(first.id)).toBeNull();
    await ch.finish(third.id, o3, { status: "cancelled", error: "test" });
  });

  test("a live local env the coordinator no longer places here stops holding its ports and slug", async () => {
    const gone = coordinatorEnv("ma-moved", hostA.hostId);
    const mirror = new MirrorLink({ db: agentDb, box: agentBox }, hostA.hostId);
    const ch = new HttpJobChannel(client(hostA.credential), 0, mirror);
    const job = enqueue(gone);
    const o = owner();
    expect((await ch.lease({ hostId: hostA.hostId, owner: o }, 30_000))?.job.id).toBe(job.id);
    await ch.finish(job.id, o, { status: "cancelled", error: "test" });
    expect(agentRow(gone.id)?.status).toBe("active");
    // Placed elsewhere on the coordinator (env move); the next lease of this host no longer carries it.
    t.deps.db.update(environments).set({ hostId: hostB.hostId }).where(eq(environments.id, gone.id)).run();
    const next = enqueue(coordinatorEnv("ma-next", hostA.hostId));
    const o2 = owner();
    expect((await ch.lease({ hostId: hostA.hostId, owner: o2 }, 30_000))?.job.id).toBe(next.id);
    expect(agentRow(gone.id)).toMatchObject({ status: "destroyed", statusReason: "no longer placed on this host" });
    await ch.finish(next.id, o2, { status: "cancelled", error: "test" });
  });
});

describe("changes flow back", () => {
  test("a real Agent runner: ports, status and a new sealed password reach the coordinator; the result's secret opens there", async () => {
    const env = coordinatorEnv("ma-run", hostA.hostId);
    const job = enqueue(env);
    const agent = new Agent({
      identity: { hostId: hostA.hostId, owner: owner() },
      channel: new HttpJobChannel(
        client(hostA.credential),
        500,
        new MirrorLink({ db: agentDb, box: agentBox }, hostA.hostId),
      ),
      registry: t.deps.jobs.registry,
      deps: { db: agentDb, config: t.deps.config, paths: t.deps.paths, box: agentBox },
      pollMs: 50,
    });
    agent.start();
    try {
      const until = Date.now() + 30_000;
      while (!TERMINAL.has(t.deps.jobs.queue.row(job.id).status) && Date.now() < until) await Bun.sleep(50);
    } finally {
      await agent.stop(5_000);
    }
    expect(t.deps.jobs.queue.view(job.id).status).toBe("succeeded");
    const row = coordRow(env.id)!;
    expect(row).toMatchObject({
      status: "stopped",
      httpPort: 41000,
      longpollPort: 41001,
      containerName: "ma-run-r1",
      release: 1,
    });
    expect(t.deps.box.open(row.odooAdminPasswordEnc!)).toBe("fresh-admin-pw");
    // Untouched columns keep the coordinator's own sealing.
    expect(row.dbPasswordEnc).toBe(env.dbPasswordEnc);
    const secrets = t.deps.jobs.queue.takeSecrets(job.id, "admin");
    expect(secrets && t.deps.box.open(secrets.odooAdminPassword!)).toBe("fresh-admin-pw");
  });

  test("a backup row the agent inserted for its env arrives whole; a later change arrives as that column", async () => {
    const env = coordinatorEnv("ma-backup", hostA.hostId);
    const job = enqueue(env);
    const c = client(hostA.credential);
    const o = owner();
    const ch = new HttpJobChannel(c, 0);
    expect((await ch.lease({ hostId: hostA.hostId, owner: o }, 30_000))?.job.id).toBe(job.id);
    const id = Bun.randomUUIDv7();
    const whole = {
      envId: env.id,
      kind: "pre_deploy" as const,
      status: "running" as const,
      dbName: env.dbName,
      sizeBytes: null,
      localPath: "/x",
      s3Key: null,
      manifest: null,
      error: null,
      createdAt: new Date().toISOString(),
      finishedAt: null,
      expiresAt: null,
    };
    const empty = { environments: [], deployments: [] };
    await c.post(`/jobs/${job.id}/step`, {
      owner: o,
      idx: 0,
      patch: { status: "running" },
      state: { ...empty, backups: [{ id, set: whole }] },
    });
    expect(t.deps.db.select().from(backups).where(eq(backups.id, id)).get()).toMatchObject({ id, ...whole });
    await c.post(`/jobs/${job.id}/step`, {
      owner: o,
      idx: 0,
      patch: { status: "done" },
      state: { ...empty, backups: [{ id, set: { status: "completed", sizeBytes: 1234 } }] },
    });
    expect(t.deps.db.select().from(backups).where(eq(backups.id, id)).get()).toMatchObject({
      status: "completed",
      sizeBytes: 1234,
      localPath: "/x",
    });
    // An incomplete new row is refused (400), not half-inserted.
    const partial = Bun.randomUUIDv7();
    await expect(
      c.post(`/jobs/${job.id}/step`, {
        owner: o,
        idx: 1,
        patch: { status: "running" },
        state: { ...empty, backups: [{ id: partial, set: { envId: env.id, status: "running" } }] },
      }),
    ).rejects.toThrow(/incomplete/);
    expect(t.deps.db.select().from(backups).where(eq(backups.id, partial)).get()).toBeUndefined();
    await ch.finish(job.id, o, { status: "succeeded", result: null });
  });
});

describe("an agent never gets authority over another host's envs", () => {
  let job: { id: string };
  let o: string;
  let mine: ReturnType<typeof coordinatorEnv>;
  let theirs: ReturnType<typeof coordinatorEnv>;

  beforeAll(async () => {
    mine = coordinatorEnv("ma-attack", hostA.hostId);
    theirs = coordinatorEnv("mb-victim", hostB.hostId);
    job = enqueue(mine);
    o = owner();
    const leased = await new HttpJobChannel(client(hostA.credential), 0).lease(
      { hostId: hostA.hostId, owner: o },
      30_000,
    );
    expect(leased?.job.id).toBe(job.id);
  });

  const empty = { environments: [], deployments: [], backups: [] };
  const attacks: [string, () => object, RegExp][] = [
    [
      "another host's env row",
      () => ({ ...empty, environments: [{ id: theirs.id, set: { status: "failed", httpPort: 1 } }] }),
      /not placed on this agent's host/,
    ],
    [
      "its own env moved to another host",
      () => ({ ...empty, environments: [{ id: mine.id, set: { hostId: hostB.hostId } }] }),
      /cannot change hostId/,
    ],
    [
      "its own env moved to another project",
      () => ({ ...empty, environments: [{ id: mine.id, set: { projectId: Bun.randomUUIDv7() } }] }),
      /cannot change projectId/,
    ],
    [
      "its own env renamed",
      () => ({ ...empty, environments: [{ id: mine.id, set: { name: "mb-victim", slug: "mb-victim" } }] }),
      /cannot change name/,
    ],
    [
      "a backup row for another host's env",
      () => ({
        ...empty,
        backups: [
          {
            id: Bun.randomUUIDv7(),
            set: {
              envId: theirs.id,
              kind: "manual",
              status: "completed",
              dbName: theirs.dbName,
              sizeBytes: 1,
              localPath: "/tmp/evil",
              s3Key: null,
              manifest: null,
              error: null,
              createdAt: new Date().toISOString(),
              finishedAt: null,
              expiresAt: null,
            },
          },
        ],
      }),
      /not placed on this agent's host/,
    ],
    [
      "a harmless change of its own env riding with another host's",
      () => ({
        ...empty,
        environments: [
          { id: mine.id, set: { statusReason: "looks fine" } },
          { id: theirs.id, set: { statusReason: "owned" } },
        ],
      }),
      /not placed on this agent's host/,
    ],
  ];

  for (const [what, state, message] of attacks) {
    test(`refused (403, audited, nothing written): ${what}`, async () => {
      const before = {
        mine: coordRow(mine.id),
        theirs: coordRow(theirs.id),
        backups: t.deps.db.select().from(backups).all(),
      };
      const steps = t.deps.jobs.queue.view(job.id).steps;
      t.deps.audit.flush();
      const auditedBefore = t.deps.audit.list({ action: "host.state.refused" }).length;
      for (const path of ["step", "finish"]) {
        const body =
          path === "step"
            ? { owner: o, idx: 0, patch: { status: "done" }, state: state() }
            : { owner: o, outcome: { status: "succeeded", result: null }, state: state() };
        const res = await agentApp.request(`/api/v1/agent/jobs/${job.id}/${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${hostA.credential}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        expect(res.status).toBe(403);
        expect(JSON.stringify(await res.json())).toMatch(message);
      }
      expect(coordRow(mine.id)).toEqual(before.mine);
      expect(coordRow(theirs.id)).toEqual(before.theirs);
      expect(t.deps.db.select().from(backups).all()).toEqual(before.backups);
      // Neither the step report nor the finish went through with it.
      expect(t.deps.jobs.queue.view(job.id).steps).toEqual(steps);
      expect(t.deps.jobs.queue.row(job.id).status).toBe("running");
      t.deps.audit.flush();
      const refused = t.deps.audit.list({ action: "host.state.refused" });
      expect(refused.length).toBe(auditedBefore + 2);
      expect(refused[0]).toMatchObject({ actor: "host:mirror-a", outcome: "failed" });
    });
  }

  test("a credential of host B cannot report for host A's job either (owner check first)", async () => {
    const res = await agentApp.request(`/api/v1/agent/jobs/${job.id}/step`, {
      method: "POST",
      headers: { authorization: `Bearer ${hostB.credential}`, "content-type": "application/json" },
      body: JSON.stringify({ owner: o, idx: 0, patch: { status: "done" }, state: empty }),
    });
    expect(res.status).toBe(403);
    expect(t.deps.jobs.queue.row(job.id).status).toBe("running");
    await new HttpJobChannel(client(hostA.credential), 0).finish(job.id, o, { status: "succeeded", result: null });
    expect(t.deps.jobs.queue.row(job.id).status).toBe("succeeded");
  });
});
