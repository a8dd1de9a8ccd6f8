/**
 * Every mutating route leaves an audit row (whatever it answers), every refusal a denied row, and
 * every job outcome a row — enumerated over the routes the app really registers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Agent } from "../../src/jobs/agent";
import { TERMINAL } from "../../src/jobs/status";
import { ADMIN_PASSWORD, makeTestApi } from "../support/api";
import { probeJob } from "../support/jobs";

const probe = probeJob([]);
let t: Awaited<ReturnType<typeof makeTestApi>>;
let agent: Agent | null = null;
beforeAll(async () => {
  t = await makeTestApi({ extraJobs: [probe] });
});
afterAll(async () => {
  await agent?.stop(1000);
  t.cleanup();
});

type RawRow = { actor: string; action: string; target: string | null; outcome: string; details: string };
/** Read with SQL, not AuditService, so the test runs unchanged against a tree without the chain. */
const newest = (where: string) =>
  t.deps.db.$client
    .query(`select actor, action, target, outcome, details from audit_logs where ${where} order by rowid desc`)
    .all() as RawRow[];
const auditCount = () => (t.deps.db.$client.query("select count(*) as n from audit_logs").get() as { n: number }).n;

function mutatingRoutes() {
  const seen = new Set<string>();
  return t.app.routes
    .filter((r) => !["ALL", "GET", "HEAD", "OPTIONS"].includes(r.method))
    .map((r) => ({ method: r.method, path: r.path }))
    .filter((r) => {
      const key = `${r.method} ${r.path}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

describe("audit coverage", () => {
  test("every mutating route writes an audit row, with the caller and the outcome", async () => {
    const routes = mutatingRoutes();
    expect(routes.length).toBeGreaterThan(10);
    const missing: string[] = [];
    for (const r of routes) {
      const url = r.path.replace(/:[A-Za-z]+/g, "zz-no-such-thing");
      const before = auditCount();
      // Logging out ends the session it is called with: its own, so the shared token stays valid.
      const token = r.path.endsWith("/auth/logout")
        ? (await t.deps.auth.login("admin", ADMIN_PASSWORD)).token
        : undefined;
      const res = await t.request(url, { method: r.method, body: "{}", token });
      if (auditCount() <= before) missing.push(`${r.method} ${r.path} (answered ${res.status})`);
      // Rotating the signing key ends every session, the shared one too.
      if (r.path.endsWith("/auth/signing-key/rotate")) await t.relogin();
    }
    expect(missing).toEqual([]);
  });

  test("a forbidden request and a bad token are denied rows", async () => {
    await t.deps.auth.createUser("viewer2", ADMIN_PASSWORD, "viewer");
    const { token } = await t.deps.auth.login("viewer2", ADMIN_PASSWORD);
    const forbidden = await t.request("/api/v1/deployments/zz-no-such-deployment/approve", {
      method: "POST",
      token,
      body: "{}",
    });
    expect(forbidden.status).toBe(403);
    const [row] = newest("actor = 'viewer2' and outcome = 'denied'");
    expect(row).toMatchObject({
      action: "auth.forbidden",
      outcome: "denied",
      target: "POST /api/v1/deployments/zz-no-such-deployment/approve",
    });

    expect((await t.request("/api/v1/environments", { token: "odo_revoked-or-made-up" })).status).toBe(401);
    const [bad] = newest("action = 'auth.authenticate' and outcome = 'denied'");
    expect(bad).toMatchObject({ actor: "anonymous", outcome: "denied", target: "GET /api/v1/environments" });
    expect(JSON.parse(bad!.details)).toMatchObject({ status: 401, reason: "invalid, expired or revoked API token" });
  });

  test("job outcomes (succeeded, failed, cancelled) are rows by whoever queued the job", async () => {
    const queued = t.deps.jobs.enqueue(probe, { key: "env-cancel" }, "admin");
    expect((await t.request(`/api/v1/jobs/${queued.id}/cancel`, { method: "POST" })).status).toBe(200);
    agent = new Agent({
      identity: { hostId: "h", owner: "h:audit-test" },
      channel: t.deps.jobs.queue,
      registry: t.deps.jobs.registry,
      deps: { db: t.deps.db, config: t.deps.config, paths: t.deps.paths, box: t.deps.box },
      pollMs: 50,
    });
    agent.start();
    const ok = t.deps.jobs.enqueue(probe, { key: "env-ok" }, "alice");
    const bad = t.deps.jobs.enqueue(probe, { key: "env-bad", failAt: "two" }, "bob");
    for (const id of [ok.id, bad.id]) {
      for (let i = 0; i < 400 && !TERMINAL.has(t.deps.jobs.queue.row(id).status); i++) await Bun.sleep(25);
    }
    const rows = newest("action like 'job.%' and details is not null").map((r) => ({
      actor: r.actor,
      action: r.action,
      target: r.target,
      job: (JSON.parse(r.details) as { job?: string }).job,
    }));
    expect(rows).toContainEqual({ actor: "admin", action: "job.cancelled", target: "env-cancel", job: queued.id });
    expect(rows).toContainEqual({ actor: "alice", action: "job.succeeded", target: "env-ok", job: ok.id });
    expect(rows).toContainEqual({ actor: "bob", action: "job.failed", target: "env-bad", job: bad.id });
  });
});
