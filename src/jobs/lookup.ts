/**
 * What other domains ask of the jobs table, answered here so that only src/jobs/ reads and
 * writes it (SqliteJobQueue stays its only writer): a schema change of the job engine is then
 * one folder's business.
 */
import { and, asc, eq, gt, inArray, sql, type SQL } from "drizzle-orm";
import type { Db } from "../state/db";
import { jobs } from "./jobs.sql";
import type { JobRow } from "./queue";

const ACTIVE = ["queued", "running"] as const;

/** Queued and running jobs, oldest first; `kinds` and `lockKey` narrow them. */
export function activeJobs(db: Db, filter: { kinds?: readonly string[]; lockKey?: string } = {}): JobRow[] {
  const where: SQL[] = [inArray(jobs.status, ACTIVE)];
  if (filter.kinds) where.push(inArray(jobs.kind, [...filter.kinds]));
  if (filter.lockKey !== undefined) where.push(eq(jobs.lockKey, filter.lockKey));
  return db
    .select()
    .from(jobs)
    .where(and(...where))
    .orderBy(asc(jobs.id))
    .all();
}

/**
 * The first job of `kind` on `lockKey` and `hostId` queued after job `after` (ids are UUIDv7, so
 * in time order) whose params `match`: a chain's step run again after a crash that came between
 * queueing a sub-job and recording its id finds the job it queued then.
 */
export function queuedAfter(
  db: Db,
  q: { after: string; kind: string; lockKey: string; hostId: string; match(params: Record<string, unknown>): boolean },
): string | undefined {
  return db
    .select({ id: jobs.id, params: jobs.params })
    .from(jobs)
    .where(and(eq(jobs.kind, q.kind), eq(jobs.lockKey, q.lockKey), eq(jobs.hostId, q.hostId), gt(jobs.id, q.after)))
    .orderBy(asc(jobs.id))
    .all()
    .find((j) => q.match(j.params))?.id;
}

/** Every job of `kind`, whatever its status, oldest first. */
export function jobsOfKind(db: Db, kind: string): JobRow[] {
  return db.select().from(jobs).where(eq(jobs.kind, kind)).orderBy(asc(jobs.id)).all();
}

/** One job, or undefined when there is none with that id. */
export function findJob(db: Db, id: string): JobRow | undefined {
  return db.select().from(jobs).where(eq(jobs.id, id)).get();
}

/** Whether a job of one of `kinds` on `lockKey` succeeded, finishing after `since` (ever, when null). */
export function succeededSince(db: Db, lockKey: string, kinds: readonly string[], since: string | null): boolean {
  const where = [eq(jobs.lockKey, lockKey), inArray(jobs.kind, [...kinds]), eq(jobs.status, "succeeded")];
  if (since !== null) where.push(gt(jobs.finishedAt, since));
  return (
    db
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(...where))
      .limit(1)
      .get() !== undefined
  );
}

/** How many jobs there are of each kind and status (the metrics' job gauge). */
export function jobCounts(db: Db): { kind: string; status: string; count: number }[] {
  return db.all(sql`SELECT kind, status, count(*) AS count FROM ${jobs} GROUP BY kind, status ORDER BY kind`);
}

/** The succeeded jobs of these kinds on these lock keys (what a state link copies to an agent). */
export function succeededOn(
  db: Db,
  lockKeys: string[],
  kinds: readonly string[],
): { id: string; kind: string; lockKey: string; finishedAt: string }[] {
  if (!lockKeys.length) return [];
  return db
    .select({ id: jobs.id, kind: jobs.kind, lockKey: jobs.lockKey, finishedAt: jobs.finishedAt })
    .from(jobs)
    .where(and(inArray(jobs.lockKey, lockKeys), inArray(jobs.kind, [...kinds]), eq(jobs.status, "succeeded")))
    .all()
    .flatMap((j) => (j.lockKey && j.finishedAt ? [{ ...j, lockKey: j.lockKey, finishedAt: j.finishedAt }] : []));
}
