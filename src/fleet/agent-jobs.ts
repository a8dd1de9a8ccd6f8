/**
 * The coordinator takes the jobs an agent ran on its own: its envs' scheduled backups and
 * certificate renewals, run by the agent's clock so they go on while the coordinator is down
 * (src/db/schedule-owner.ts).
 * Only those kinds, only on an env placed on the reporting host, params naming that env: the
 * report adds a job row and the rows the job changed, or — refused — nothing at all.
 */
import { certIssueJob, CertIssueParams } from "../certs/issue-job";
import { backupJob, BackupJobParams } from "../db/backup-job";
import type { CoordinatorDeps } from "../deps";
import { environments } from "../env/env.sql";
import { Forbidden, Invalid, issuesText } from "../errors";
import { eq } from "drizzle-orm";
import type { z } from "zod";
import type { HostRow } from "./hosts";
import { applyAgentChanges } from "./mirror-apply";
import type { AgentJobReport } from "./schema";

/** The job kinds an agent starts by itself, with the params each must carry. */
const AGENT_SCHEDULED: ReadonlyMap<string, z.ZodType<{ envId: string }>> = new Map<
  string,
  z.ZodType<{ envId: string }>
>([
  [backupJob.kind, BackupJobParams],
  [certIssueJob.kind, CertIssueParams],
]);
export const AGENT_SCHEDULED_KINDS: readonly string[] = [...AGENT_SCHEDULED.keys()];

/** Stores the report; false when this job was reported before (nothing written again). */
export function takeAgentJobReport(
  deps: Pick<CoordinatorDeps, "db" | "box" | "jobs">,
  host: Pick<HostRow, "id" | "name">,
  report: AgentJobReport,
): boolean {
  const { db, box, jobs } = deps;
  const { job } = report;
  const schema = AGENT_SCHEDULED.get(job.kind);
  if (!schema)
    throw new Forbidden(`an agent starts no ${job.kind} job by itself; only ${AGENT_SCHEDULED_KINDS.join(", ")}`);
  const params = schema.safeParse(job.params);
  if (!params.success) throw new Invalid(`job ${job.id}: ${issuesText(params.error)}`);
  const env = db.select().from(environments).where(eq(environments.id, job.lockKey)).get();
  if (!env || env.hostId !== host.id || params.data.envId !== env.id)
    throw new Forbidden(`job ${job.id}: its environment is not placed on host ${host.name}`);
  let adopted = false;
  db.$client.transaction(() => {
    // Sent again after a lost answer: taken the first time.
    if (jobs.queue.has(job.id)) return;
    // Refused changes throw before the job row is written: a refused report leaves nothing.
    if (report.state) applyAgentChanges(db, box, host.id, report.state);
    jobs.queue.adopt(
      { ...job, target: env.slug, hostId: host.id, leaseOwner: null, leaseExpiresAt: null, cancelRequestedAt: null },
      report.steps,
    );
    adopted = true;
  })();
  return adopted;
}
