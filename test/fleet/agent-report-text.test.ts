/**
 * Failure reasons in an agent's reports are tenant text: the coordinator's agent routes make them
 * display-safe as they parse them (step and finish of a leased job, the report of a job the
 * agent ran by itself, the env/deployment/backup reasons in the state it sends back), so an agent
 * binary that does not filter them cannot put escape sequences on an operator's terminal.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { environments, projects } from "../../src/env/env.sql";
import type { AgentJobReport } from "../../src/fleet/schema";
import { jobs } from "../../src/jobs/jobs.sql";
import { type CoordinatorApi, insertEnv, startCoordinatorApi } from "../support/fleet-api";
import { UNSAFE } from "../support/unsafe-text";

// OSC 52 (write the clipboard), erase the screen, a bidi override, a carriage return that would overwrite the line.
const HOSTILE = "\u001b]52;c;ZXZpbA==\u0007boom \u001b[2J\u202eevil\rnext";
const SAFE = "boom evil\nnext";

let api: CoordinatorApi;
let host: { hostId: string; credential: string };
let env: { id: string; slug: string };

beforeAll(async () => {
  api = await startCoordinatorApi();
  host = await api.join("text-h1");
  const project = api.t.deps.db.insert(projects).values({ name: "p-text" }).returning().get();
  // Sealed for real: a lease carries the env's secrets open to its agent.
  const { box } = api.t.deps;
  env = insertEnv(api.t.deps.db, project.id, "text-shop", host.hostId, {
    dbPasswordEnc: box.seal("db-pw"),
    adminPasswdEnc: box.seal("admin-pw"),
  });
});
afterAll(() => api.t.cleanup());

const post = async (path: string, body: unknown) => {
  const r = await api.agentCall(path, body, host.credential);
  const answer = await r.json();
  expect({ status: r.status, answer }).toMatchObject({ status: 200 });
  return answer;
};

test("the hostile string is unsafe to begin with", () => {
  expect(UNSAFE.test(HOSTILE)).toBe(true);
  expect(UNSAFE.test(SAFE)).toBe(false);
});

test("a leased job's step and finish reports: the reasons are stored display-safe", async () => {
  const queued = api.t.deps.jobs.queue.enqueue({
    kind: "text-probe",
    params: {},
    lockKey: env.id,
    target: env.slug,
    steps: [{ name: "one", title: "One" }],
    createdBy: null,
    hostId: host.hostId,
  });
  const owner = `${host.hostId}:text-agent`;
  const leased = (await post("/jobs/lease", { owner, leaseMs: 30_000, waitMs: 0 })) as { job: { id: string } };
  expect(leased.job.id).toBe(queued.id);
  await post(`/jobs/${queued.id}/step`, {
    owner,
    idx: 0,
    patch: { status: "failed", error: HOSTILE },
    state: {
      environments: [{ id: env.id, set: { status: "failed", statusReason: HOSTILE } }],
      deployments: [],
      backups: [],
    },
  });
  await post(`/jobs/${queued.id}/finish`, { owner, outcome: { status: "failed", error: HOSTILE } });
  const view = api.t.deps.jobs.queue.view(queued.id);
  expect(view.status).toBe("failed");
  expect(view.error).toBe(SAFE);
  expect(view.steps[0]!.error).toBe(SAFE);
  const row = api.t.deps.db.select().from(environments).where(eq(environments.id, env.id)).get();
  expect(row?.statusReason).toBe(SAFE);
});

test("the report of a job the agent ran by itself: job and step reasons stored display-safe", async () => {
  const id = Bun.randomUUIDv7();
  const report: AgentJobReport = {
    job: {
      id,
      kind: "certs.issue",
      lockKey: env.id,
      target: env.slug,
      status: "failed",
      params: { envId: env.id, slug: env.slug, force: false, requestedAt: "2026-01-01T03:41:00.000Z" },
      result: null,
      error: HOSTILE,
      attempts: 1,
      createdBy: "scheduler",
      odooopsVersion: "0.0.1-old",
      createdAt: "2026-01-01T03:41:00.000Z",
      startedAt: "2026-01-01T03:41:01.000Z",
      finishedAt: "2026-01-01T03:41:09.000Z",
    },
    steps: [
      {
        idx: 0,
        name: "issue",
        title: "Getting the certificate",
        status: "failed",
        output: null,
        error: HOSTILE,
        startedAt: "2026-01-01T03:41:01.000Z",
        finishedAt: "2026-01-01T03:41:08.000Z",
        durationMs: 7000,
      },
    ],
  };
  expect(await post("/jobs/reports", report)).toEqual({ adopted: true });
  const view = api.t.deps.jobs.queue.view(id);
  expect(view.error).toBe(SAFE);
  expect(view.steps[0]!.error).toBe(SAFE);
  // Nothing raw anywhere in the job rows.
  for (const j of api.t.deps.db.select().from(jobs).all()) expect(UNSAFE.test(j.error ?? "")).toBe(false);
});
