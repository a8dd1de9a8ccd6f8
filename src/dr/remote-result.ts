/**
 * A DR test that ran on an agent (another host than the env's, or an env placed on that agent)
 * wrote its record into the agent's state, which has no `dr_tests` row: the coordinator records
 * it from the job's finish report instead. Accepted only for a dr-test job leased to the
 * reporting host, with a result naming that job's own test and backup; anything else is refused
 * (Forbidden: the agent route audits it) before anything is written.
 */
import { eq } from "drizzle-orm";
import type { CoordinatorDeps } from "../deps";
import { Forbidden, Invalid, issuesText } from "../errors";
import type { JobOutcome, JobRow } from "../jobs/queue";
import { BackupOut, DrTestParams, DrTestResult, drTestJob, failureOf } from "./dr-test-job";
import { failDrTest, markDrTestStarted, noteDrTestFailure, passDrTest } from "./dr-test-records";
import { drTests } from "./dr-tests.sql";

/**
 * Checks a finish report of `job` from `host`; returns the write that records the test (run
 * once the job's finish was accepted), or null when the job is no DR test.
 */
export function drTestFinish(
  deps: Pick<CoordinatorDeps, "db" | "jobs">,
  host: { id: string; name: string },
  job: JobRow,
  outcome: JobOutcome,
): (() => void) | null {
  if (job.kind !== drTestJob.kind) return null;
  if (job.hostId !== host.id) throw new Forbidden(`DR test job ${job.id} was not leased to host ${host.name}`);
  const p = DrTestParams.parse(job.params);
  const { db } = deps;
  const test = db.select().from(drTests).where(eq(drTests.id, p.drTestId)).get();
  if (!test || test.jobId !== job.id) throw new Forbidden(`job ${job.id} runs no recorded DR test`);
  if (outcome.status === "succeeded") {
    const r = DrTestResult.safeParse(outcome.result);
    if (!r.success) throw new Invalid(`result of DR test job ${job.id}: ${issuesText(r.error)}`);
    if (r.data.drTestId !== p.drTestId || r.data.backupId !== p.backupId)
      throw new Forbidden(
        `DR test job ${job.id} tests backup ${p.backupId} (test ${p.drTestId}); its result names backup ${r.data.backupId} (test ${r.data.drTestId})`,
      );
    const v = r.data;
    return () => {
      markDrTestStarted(db, p.drTestId, { startedAt: v.startedAt, backupId: p.backupId, rpoSec: v.rpoSec });
      passDrTest(db, p.drTestId, v.rtoMs);
    };
  }
  // The step reports came through the lease: what started, and which step failed with what.
  const steps = deps.jobs.queue.steps(job.id);
  const backup = BackupOut.schema.safeParse(steps.find((s) => s.name === "backup" && s.status === "done")?.output);
  const failed = steps.find((s) => s.status === "failed");
  const error = outcome.error;
  return () => {
    if (backup.success)
      markDrTestStarted(db, p.drTestId, {
        startedAt: backup.data.startedAt,
        backupId: p.backupId,
        rpoSec: backup.data.rpoSec,
      });
    if (failed && outcome.status === "failed") {
      const f = failureOf(failed.name, failed.error ?? error);
      noteDrTestFailure(db, p.drTestId, f.step, f.reason);
    }
    failDrTest(db, p.drTestId, outcome.status === "cancelled" ? "cancelled" : error);
  };
}
