/**
 * Which host runs a job: every job that acts on an env is locked on the env's id (defineJob's
 * lockKey), so the env's host is found from the lock key — every env job kind, present and
 * future, goes to the env's host without each call site naming it.
 */
import { eq } from "drizzle-orm";
import { environments } from "../env/env.sql";
import type { Db } from "../state/db";

export function envHostId(db: Db, lockKey: string): string | null {
  return (
    db.select({ hostId: environments.hostId }).from(environments).where(eq(environments.id, lockKey)).get()?.hostId ??
    null
  );
}
