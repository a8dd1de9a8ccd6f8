/**
 * Who renews the certificate of an env placed on an agent: its agent, never the coordinator's
 * daily sweep (so two orders never race), and the report of the renewal the agent ran by itself
 * — the coordinator's sweep against real state, the agent's sweep, and the coordinator's agent
 * API taking a `certs.issue` report: adopted once with its env row change, refused (403,
 * audited, nothing written) for another host's env or params naming another env.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { certIssueJob } from "../../src/certs/issue-job";
import { renewCertificatesTick } from "../../src/certs/schedule";
import { renewDue, startCertsRenew } from "../../src/certs/service";
import { ConfigSchema } from "../../src/config/schema";
import { createAgentApp } from "../../src/api/routes/agent";
import { environments, projects } from "../../src/env/env.sql";
import type { AgentJobReport } from "../../src/fleet/schema";
import { jobs } from "../../src/jobs/jobs.sql";
import { makeTestApi } from "../support/api";
import { AGENT_INVENTORY, insertEnv } from "../support/fleet-api";

const renewalReport = (
  env: { id: string; slug: string },
  over: Partial<AgentJobReport["job"]> = {},
  state?: AgentJobReport["state"],
): AgentJobReport => ({
  job: {
    id: Bun.randomUUIDv7(),
    kind: "certs.issue",
    lockKey: env.id,
    target: env.slug,
    status: "succeeded",
    params: { envId: env.id, slug: env.slug, force: false, requestedAt: "2026-01-01T03:41:00.000Z" },
    result: { env: env.slug, issued: true },
    error: null,
    attempts: 1,
    createdBy: "scheduler",
    odooopsVersion: "0.1.0",
    createdAt: "2026-01-01T03:41:00.000Z",
    startedAt: "2026-01-01T03:41:01.000Z",
    finishedAt: "2026-01-01T03:41:09.000Z",
    ...over,
  },
  steps: [
    {
      idx: 0,
      name: "issue",
      title: "Getting the certificate",
      status: "done",
      output: null,
      error: null,
      startedAt: "2026-01-01T03:41:01.000Z",
      finishedAt: "2026-01-01T03:41:08.000Z",
      durationMs: 7000,
    },
  ],
  ...(state && { state }),
});

describe("certificate renewals of envs placed on agents", () => {
  let t: Awaited<ReturnType<typeof makeTestApi>>;
  let agentApp: ReturnType<typeof createAgentApp>;
  let hostA: { hostId: string; name: string; credential: string };
  let hostB: { hostId: string; name: string; credential: string };
  let onA: typeof environments.$inferSelect;
  let onB: typeof environments.$inferSelect;
  let local: typeof environments.$inferSelect;

  const post = (path: string, body: unknown, credential: string) =>
    agentApp.request(`/api/v1/agent${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${credential}` },
      body: JSON.stringify(body),
    });
  const certJobs = () =>
    t.deps.db
      .select()
      .from(jobs)
      .where(eq(jobs.kind, "certs.issue"))
      .all()
      .map((j) => j.lockKey)
      .sort();
  const jobCount = () => t.deps.db.select().from(jobs).all().length;
  const audited = (action: string) =>
    t.deps.db.$client.query("SELECT target, details FROM audit_logs WHERE action = ? ORDER BY seq").all(action) as {
      target: string;
      details: string;
    }[];
  const envRow = (id: string) => t.deps.db.select().from(environments).where(eq(environments.id, id)).get();

  beforeAll(async () => {
    t = await makeTestApi({ config: ConfigSchema.parse({ role: "coordinator", acme: { enabled: true } }) });
    t.deps.fleet.endpoint = { url: "https://127.0.0.1:8421", fingerprint: Array(32).fill("0F").join(":") };
    agentApp = createAgentApp(t.deps);
    const join = async (name: string) => {
      const token = t.deps.fleet.createJoinToken({ name }).token;
      const r = await agentApp.request("/api/v1/agent/join", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token, name, inventory: AGENT_INVENTORY }),
      });
      if (r.status !== 201) throw new Error(`join ${name}: HTTP ${r.status} ${await r.text()}`);
      return { ...((await r.json()) as { hostId: string; credential: string }), name };
    };
    hostA = await join("certs-a");
    hostB = await join("certs-b");
    const project = t.deps.db.insert(projects).values({ name: "p-certs" }).returning().get();
    // Production: TLS by default, no certificate stored yet — every one of them is due.
    const env = (name: string, hostId: string | null) =>
      insertEnv(t.deps.db, project.id, name, hostId, {
        tier: "production",
        domain: `${name}.example.com`,
        httpFallbackReason: "no certificate yet",
        statusReason: "no certificate yet",
      });
    onA = env("certs-on-a", hostA.hostId);
    onB = env("certs-on-b", hostB.hostId);
    local = env("certs-local", t.deps.fleet.localHostId);
  });
  afterAll(() => t.cleanup());

  test("the coordinator's daily sweep renews only the envs it runs; a manual sweep still covers all", () => {
    const daily = renewCertificatesTick(t.deps);
    expect(daily.queued.map((q) => q.env)).toEqual(["certs-local"]);
    expect(certJobs()).toEqual([local.id]);
    // `odooops certs renew` asked by a user is routed to each env's host as ever.
    const manual = startCertsRenew(t.deps, { force: false }, "admin");
    expect(manual.queued.map((q) => q.env).sort()).toEqual(["certs-on-a", "certs-on-b"]);
    expect(manual.pending.map((p) => p.env)).toEqual(["certs-local"]);
    for (const id of t.deps.db.select().from(jobs).where(eq(jobs.kind, "certs.issue")).all())
      t.deps.jobs.queue.cancel(id.id);
  });

  test("an agent's sweep takes only the envs placed on its host, by the same renewal rules", () => {
    const queued: string[] = [];
    const out = renewDue(t.deps, {
      force: false,
      now: new Date(),
      owns: (env) => env.hostId === hostA.hostId,
      enqueue: (env) => {
        queued.push(env.slug);
        const params = { envId: env.id, slug: env.slug, force: false, requestedAt: new Date().toISOString() };
        return t.deps.jobs.enqueue(certIssueJob, params, "scheduler");
      },
    });
    expect(queued).toEqual(["certs-on-a"]);
    expect(out.queued.map((q) => [q.env, q.reason])).toEqual([["certs-on-a", "no certificate yet"]]);
    expect(out.skipped).toEqual([]);
    // Its job is pending now: the next sweep does not stack a second one.
    const next = renewDue(t.deps, {
      force: false,
      now: new Date(),
      owns: (env) => env.hostId === hostA.hostId,
      enqueue: () => {
        throw new Error("queued twice");
      },
    });
    expect(next.pending.map((p) => p.env)).toEqual(["certs-on-a"]);
    for (const j of t.deps.db.select().from(jobs).where(eq(jobs.kind, "certs.issue")).all())
      t.deps.jobs.queue.cancel(j.id);
  });

  test("a renewal run on agent A: its job and its env row change are adopted once, and audited", async () => {
    const r = renewalReport(
      onA,
      {},
      {
        environments: [{ id: onA.id, set: { httpFallbackReason: null, statusReason: null } }],
        deployments: [],
        backups: [],
      },
    );
    const res = await post("/jobs/reports", r, hostA.credential);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ adopted: true });
    const job = t.deps.jobs.queue.view(r.job.id);
    expect(job).toMatchObject({ status: "succeeded", kind: "certs.issue", target: onA.slug });
    expect(t.deps.jobs.queue.row(r.job.id).hostId).toBe(hostA.hostId);
    expect(envRow(onA.id)).toMatchObject({ httpFallbackReason: null, statusReason: null, hostId: hostA.hostId });
    expect(audited("certs.issue").map((a) => a.target)).toEqual([onA.slug]);
    // Sent again after a lost answer: nothing written twice.
    const before = jobCount();
    const again = await post("/jobs/reports", r, hostA.credential);
    expect(await again.json()).toEqual({ adopted: false });
    expect(jobCount()).toBe(before);
  });

  test("refused with 403, audited, nothing written: another host's env, params naming another env, a row of another env", async () => {
    const before = jobCount();
    const refusedBefore = audited("host.state.refused").length;
    const attempts = [
      renewalReport(onB),
      renewalReport(onA, {
        params: { envId: onB.id, slug: onB.slug, force: false, requestedAt: "2026-01-01T03:41:00.000Z" },
      }),
      renewalReport(
        onA,
        {},
        {
          environments: [{ id: onB.id, set: { httpFallbackReason: null, statusReason: null } }],
          deployments: [],
          backups: [],
        },
      ),
      // Changing where an env lives is never an agent's to report.
      renewalReport(
        onA,
        {},
        { environments: [{ id: onA.id, set: { hostId: hostB.hostId } }], deployments: [], backups: [] },
      ),
    ];
    for (const r of attempts) {
      const res = await post("/jobs/reports", r, hostA.credential);
      expect(res.status).toBe(403);
    }
    expect(jobCount()).toBe(before);
    expect(envRow(onB.id)).toMatchObject({ httpFallbackReason: "no certificate yet", hostId: hostB.hostId });
    expect(envRow(onA.id)?.hostId).toBe(hostA.hostId);
    expect(audited("host.state.refused").length - refusedBefore).toBe(attempts.length);
  });

  test("a renewal report without its params is invalid (400), and other kinds stay refused", async () => {
    const before = jobCount();
    const bad = renewalReport(onA, { params: { envId: onA.id, slug: onA.slug } });
    expect((await post("/jobs/reports", bad, hostA.credential)).status).toBe(400);
    const restore = renewalReport(onA, { kind: "db.restore" });
    const res = await post("/jobs/reports", restore, hostA.credential);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("only db.backup, certs.issue");
    expect(jobCount()).toBe(before);
  });
});
