/**
 * The one writer of `dr_tests` (dr-tests.sql.ts): a test is recorded when it is queued, started
 * when its job begins restoring, and finished passed (with RTO) or failed (with the step and why).
 */
import { and, desc, eq, gte, inArray } from "drizzle-orm";
import type { Db } from "../state/db";
import { environments } from "../env/env.sql";
import { hosts } from "../fleet/fleet.sql";
import { findJob } from "../jobs/lookup";
import { drTests, type DR_TEST_STEPS } from "./dr-tests.sql";

export type DrTestRow = typeof drTests.$inferSelect;
export type DrTestStep = (typeof DR_TEST_STEPS)[number];

export function insertDrTest(
  db: Db,
  v: { id: string; envId: string; backupId: string; jobId: string; hostId?: string | null; hostReason?: string | null },
): DrTestRow {
  return db.insert(drTests).values(v).returning().get();
}

export function markDrTestStarted(
  db: Db,
  id: string,
  v: { startedAt: string; backupId: string; rpoSec: number },
): void {
  db.update(drTests).set(v).where(eq(drTests.id, id)).run();
}

export function passDrTest(db: Db, id: string, rtoMs: number): void {
  db.update(drTests)
    .set({ outcome: "passed", rtoMs, failedStep: null, reason: null, finishedAt: new Date().toISOString() })
    .where(eq(drTests.id, id))
    .run();
}

/** Where it failed, noted by the step before the job's undo pass (a resumed attempt overwrites it). */
export function noteDrTestFailure(db: Db, id: string, step: DrTestStep, reason: string): void {
  db.update(drTests).set({ failedStep: step, reason }).where(eq(drTests.id, id)).run();
}

/** Failed for good: keeps the step and reason a step noted, else the job's error. */
export function failDrTest(db: Db, id: string, error: string): void {
  const row = db.select().from(drTests).where(eq(drTests.id, id)).get();
  if (!row) return;
  db.update(drTests)
    .set({ outcome: "failed", reason: row.reason ?? error, finishedAt: new Date().toISOString() })
    .where(eq(drTests.id, id))
    .run();
}

/**
 * A test whose job ended failed or cancelled while its row still says running: the job was
 * failed by the coordinator (its host removed, or offline past `fleet.offlineJobTimeout`),
 * cancelled before it started, or its agent's report never arrived. The step's own record, when
 * there is one (the job's failed hook, or the agent's finish report), is written first and kept.
 */
export function settleDrTestOfJob(db: Db, job: { id: string; status: string; error: string | null }): boolean {
  if (job.status !== "failed" && job.status !== "cancelled") return false;
  const row = db
    .select({ id: drTests.id })
    .from(drTests)
    .where(and(eq(drTests.jobId, job.id), eq(drTests.outcome, "running")))
    .get();
  if (!row) return false;
  failDrTest(db, row.id, job.status === "cancelled" ? "cancelled" : (job.error ?? "the job failed"));
  return true;
}

/** At start: the tests whose job ended while no listener ran (a coordinator killed between the two writes). */
export function settleEndedDrTests(db: Db): number {
  const running = db.select({ jobId: drTests.jobId }).from(drTests).where(eq(drTests.outcome, "running")).all();
  return running.filter(({ jobId }) => {
    const job = jobId ? findJob(db, jobId) : undefined;
    return job !== undefined && settleDrTestOfJob(db, job);
  }).length;
}

/** `host`: the name of the host it ran on (null: a standalone coordinator, or a removed host). */
export type DrTestWithEnv = DrTestRow & { env: string; tier: string; host: string | null };

/** Newest first; `envIds` narrows to those envs. */
export function listDrTests(db: Db, opts: { since: string; envIds?: string[]; limit?: number }): DrTestWithEnv[] {
  return db
    .select({ t: drTests, env: environments.slug, tier: environments.tier, host: hosts.name })
    .from(drTests)
    .innerJoin(environments, eq(environments.id, drTests.envId))
    .leftJoin(hosts, eq(hosts.id, drTests.hostId))
    .where(and(gte(drTests.createdAt, opts.since), opts.envIds ? inArray(drTests.envId, opts.envIds) : undefined))
    .orderBy(desc(drTests.createdAt), desc(drTests.id))
    .limit(opts.limit ?? 1000)
    .all()
    .map((r) => ({ ...r.t, env: r.env, tier: r.tier, host: r.host }));
}

export interface LastDrTest {
  /** The newest finished test. */
  last: DrTestRow;
  /** The newest passed one; null: none passed yet. */
  lastSuccess: DrTestRow | null;
}

/** Per env id: its newest finished test and newest success (for metrics and health check). */
export function lastDrTests(db: Db): Map<string, LastDrTest> {
  const out = new Map<string, LastDrTest>();
  const rows = db
    .select()
    .from(drTests)
    .where(inArray(drTests.outcome, ["passed", "failed"]))
    .orderBy(desc(drTests.finishedAt), desc(drTests.id))
    .all();
  for (const r of rows) {
    const seen = out.get(r.envId);
    if (!seen) out.set(r.envId, { last: r, lastSuccess: r.outcome === "passed" ? r : null });
    else if (seen.lastSuccess === null && r.outcome === "passed") seen.lastSuccess = r;
  }
  return out;
}
