/**
 * The coordinator's half of the state link (the agent's is src/fleet/mirror.ts). `sliceFor`
 * builds what a lease carries: the projects and every live env placed on the agent's host (its
 * ports and vhosts are chosen from them), and the deployments and backups of the job's envs.
 * `applyAgentChanges` takes back what the job changed, through the tables' owners, after
 * refusing whatever the agent has no authority over: an agent acts on the envs placed on its
 * own host only, and can move none of them (host, project, name).
 */
import { and, eq, inArray, ne, or } from "drizzle-orm";
import type { z } from "zod";
import type { SecretBox } from "../auth/secretbox";
import { backups } from "../db/backup.sql";
import { applyMirroredBackupChange, mirrorBackup } from "../db/backups";
import { deployments } from "../deploy/deploy.sql";
import { DB_REPLACING_JOBS, mirrorDeployment, setDeployment } from "../deploy/records";
import { type Environment, environments, projects } from "../env/env.sql";
import { projectAccess } from "../env/projects";
import { applyMirroredChange } from "../env/state";
import { Forbidden, Invalid, issuesText } from "../errors";
import { succeededOn } from "../jobs/lookup";
import type { JobRow } from "../jobs/queue";
import type { Db } from "../state/db";
import { envColumnsFromWire, envToWire, projectToWire } from "./mirror-wire";
import { holdPending, pendingColumns } from "./move-pending";
import { holdsOldCopy, makesNewCopy, moveSide, oldCopyColumns, takesEnvChanges } from "./move-sides";
import { ApprovalWire, BackupWire, DeploymentWire, type MirrorChanges, type MirrorSlice } from "./schema";

/** Env columns no agent may change: where the env lives, whose it is, what it is called. */
const PLACEMENT = ["hostId", "projectId", "name", "slug", "createdBy"] as const;

/** The env is this host's to run or, during a move, to copy in or tear down (src/fleet/move-sides.ts). */
const onHost = (hostId: string) =>
  or(
    eq(environments.hostId, hostId),
    eq(environments.movingToHostId, hostId),
    eq(environments.movedFromHostId, hostId),
  );

/**
 * The envs a job is about, on this host: its lock (an env id) first, then the source of a
 * copy. The order matters to the agent: the first is the env the job holds the lock of.
 */
function jobEnvIds(db: Db, hostId: string, job: JobRow): string[] {
  const source = job.params.sourceEnvId;
  const ids = [job.lockKey, typeof source === "string" ? source : null].filter((v): v is string => v !== null);
  if (!ids.length) return [];
  const placed = new Set(
    db
      .select({ id: environments.id })
      .from(environments)
      .where(and(inArray(environments.id, ids), onHost(hostId)))
      .all()
      .map((r) => r.id),
  );
  return [...new Set(ids)].filter((id) => placed.has(id));
}

/**
 * The env as this host runs it: placed on itself (a move's target prepares its copy as if the
 * env were its own, and sees what it reported of that copy so far), and a host serving a moving
 * env's old copy keeps that copy's columns.
 */
function asOnHost(db: Db, hostId: string, env: Environment): Environment {
  const old = holdsOldCopy(env, hostId) ? oldCopyColumns(db, env.id) : null;
  const made = makesNewCopy(env, hostId) ? pendingColumns(db, env.id) : null;
  return { ...env, ...old, ...made, hostId };
}

export function sliceFor(db: Db, box: SecretBox, host: { id: string; name: string }, job: JobRow): MirrorSlice {
  const ids = jobEnvIds(db, host.id, job);
  const envs = db
    .select()
    .from(environments)
    .where(
      and(
        onHost(host.id),
        ids.length
          ? or(ne(environments.status, "destroyed"), inArray(environments.id, ids))
          : ne(environments.status, "destroyed"),
      ),
    )
    .all();
  const projectIds = [...new Set(envs.map((e) => e.projectId))];
  // A protected tier's basic-auth password is made on first use; made on the agent it would never
  // come back (projects do not flow back) and the next lease would replace it: made here instead.
  for (const id of projectIds) projectAccess(db, box, id);
  return {
    host: { id: host.id, name: host.name },
    jobEnvIds: ids,
    projects: projectIds.length
      ? db
          .select()
          .from(projects)
          .where(inArray(projects.id, projectIds))
          .all()
          .map((p) => projectToWire(box, p))
      : [],
    environments: envs.map((e) => envToWire(box, asOnHost(db, host.id, e))),
    deployments: ids.length ? db.select().from(deployments).where(inArray(deployments.envId, ids)).all() : [],
    backups: ids.length ? db.select().from(backups).where(inArray(backups.envId, ids)).all() : [],
    replacements: succeededOn(db, ids, DB_REPLACING_JOBS).map((j) => ({
      ...j,
      kind: j.kind as (typeof DB_REPLACING_JOBS)[number],
    })),
  };
}

/**
 * Approval decisions the job's deployments got on the coordinator while they wait for one: sent
 * with every lease heartbeat of the job, since the agent's approval step polls its own copy.
 */
export function decisionsFor(db: Db, job: JobRow): z.infer<typeof ApprovalWire>[] {
  if (!job.lockKey) return [];
  return db
    .select({
      id: deployments.id,
      approvalDecision: deployments.approvalDecision,
      approvalBy: deployments.approvalBy,
      approvalReason: deployments.approvalReason,
      approvalAt: deployments.approvalAt,
    })
    .from(deployments)
    .where(and(eq(deployments.envId, job.lockKey), eq(deployments.status, "awaiting_approval")))
    .all()
    .flatMap((d) => (d.approvalDecision ? [{ ...d, approvalDecision: d.approvalDecision }] : []));
}

/** The env is placed on this host, or moving to or away from it. */
function placedHere(db: Db, hostId: string, envId: string, what: string): void {
  const env = db
    .select({
      hostId: environments.hostId,
      movingToHostId: environments.movingToHostId,
      movedFromHostId: environments.movedFromHostId,
      slug: environments.slug,
    })
    .from(environments)
    .where(eq(environments.id, envId))
    .get();
  if (!env || !moveSide(env, hostId))
    throw new Forbidden(`${what}: environment ${env?.slug ?? envId} is not placed on this agent's host`);
}

/** A row the agent inserted must be whole (every column), checked like the lease's rows. */
function wholeRow<T>(schema: z.ZodType<T>, id: string, set: object, what: string): T {
  const parsed = schema.safeParse({ id, ...set });
  if (!parsed.success) throw new Invalid(`${what} ${id} is new here but incomplete: ${issuesText(parsed.error)}`);
  return parsed.data;
}

/** Checked against the caller's own id above; never written, so a target cannot place the env on itself. */
function withoutHost<T extends { hostId?: unknown }>(set: T): Omit<T, "hostId"> {
  const { hostId: _sent, ...rest } = set;
  return rest;
}

/**
 * Checks every change first and writes only when all are allowed (one transaction), so a
 * refused report changes nothing. Throws Forbidden (the route audits it) or Invalid.
 */
export function applyAgentChanges(db: Db, box: SecretBox, hostId: string, changes: MirrorChanges): void {
  const writes: (() => void)[] = [];
  for (const { id, set } of changes.environments) {
    const row = db.select().from(environments).where(eq(environments.id, id)).get();
    placedHere(db, hostId, id, "environment change refused");
    for (const column of PLACEMENT) {
      // Each host is sent the env as placed on itself (asOnHost): its own id is no change.
      const sent = column === "hostId" ? hostId : row?.[column];
      if (row && column in set && set[column] !== sent)
        throw new Forbidden(`environment change refused: an agent cannot change ${column} of environment ${row.slug}`);
    }
    // The old copy's teardown after a switch changes the row of an env that now lives elsewhere: dropped.
    if (row && !takesEnvChanges(row, hostId)) continue;
    const patch = envColumnsFromWire(box, withoutHost(set));
    // The target's copy serves nothing before the switch: held apart from the row until then.
    writes.push(
      row && makesNewCopy(row, hostId) ? () => holdPending(db, id, patch) : () => applyMirroredChange(db, id, patch),
    );
  }
  for (const { id, set } of changes.deployments) {
    const row = db.select().from(deployments).where(eq(deployments.id, id)).get();
    if (row && set.envId !== undefined && set.envId !== row.envId)
      throw new Forbidden(`deployment change refused: an agent cannot move deployment ${id} to another environment`);
    placedHere(db, hostId, row?.envId ?? set.envId ?? "", `deployment ${id} refused`);
    writes.push(
      row
        ? () => setDeployment(db, id, set)
        : () => mirrorDeployment(db, wholeRow(DeploymentWire, id, set, "deployment")),
    );
  }
  for (const { id, set } of changes.backups) {
    const row = db.select().from(backups).where(eq(backups.id, id)).get();
    if (row && set.envId !== undefined && set.envId !== row.envId)
      throw new Forbidden(`backup change refused: an agent cannot move backup ${id} to another environment`);
    placedHere(db, hostId, row?.envId ?? set.envId ?? "", `backup ${id} refused`);
    writes.push(
      row
        ? () => applyMirroredBackupChange(db, id, set)
        : () => mirrorBackup(db, wholeRow(BackupWire, id, set, "backup")),
    );
  }
  db.$client.transaction(() => {
    for (const w of writes) w();
  })();
}
