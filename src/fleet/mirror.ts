/**
 * The agent's half of the state link. A remote agent's job steps read and write its own SQLite
 * (`state/odooops.db`) through the same owners as on the coordinator, so every step works
 * unchanged; this keeps that database a copy of the coordinator's rows for the envs placed here.
 * With a lease it stores the slice the coordinator sent (src/fleet/mirror-apply.ts builds it);
 * with each step report and the finish it hands back the columns the job changed since its
 * previous report, for the job's envs: their rows, deployments and backups.
 */
import { inArray } from "drizzle-orm";
import { backups } from "../db/backup.sql";
import { mirrorBackup } from "../db/backups";
import { deployments } from "../deploy/deploy.sql";
import { mirrorDeployment, recordApprovalDecision, setDeployment } from "../deploy/records";
import type { Deps } from "../deps";
import { environments } from "../env/env.sql";
import { mirrorProject } from "../env/projects";
import { mirrorEnvironment, retireUnmirrored } from "../env/state";
import { Invalid, issuesText } from "../errors";
import type { StateLink, StateReport } from "../jobs/http-channel";
import { type JobOutcome, mirrorPastJob } from "../jobs/queue";
import { openSecrets, sealedOf, withoutSealed } from "../jobs/secrets";
import { ensureMirroredHost } from "./hosts";
import {
  type BackupRow,
  changedColumns,
  type DeploymentRow,
  envColumnsToWire,
  envFromWire,
  projectFromWire,
} from "./mirror-wire";
import { z } from "zod";
import { ApprovalWire, type MirrorChanges, MirrorSlice } from "./schema";
import type { Environment } from "../env/env.sql";

/** The rows of a job's envs as this agent's database holds them. */
interface Snapshot {
  environments: Map<string, Environment>;
  deployments: Map<string, DeploymentRow>;
  backups: Map<string, BackupRow>;
}

interface Tracked {
  envIds: string[];
  /** As last reported (or received): the next report sends what differs from it. */
  baseline: Snapshot;
}

function byId<R extends { id: string }>(rows: R[]): Map<string, R> {
  return new Map(rows.map((r) => [r.id, r]));
}

function diff<R extends { id: string }>(before: Map<string, R>, after: Map<string, R>) {
  return [...after.values()].flatMap((row) => {
    const set = changedColumns(before.get(row.id), row);
    return set ? [{ id: row.id, set }] : [];
  });
}

export class MirrorLink implements StateLink {
  private readonly jobs = new Map<string, Tracked>();

  constructor(
    private readonly deps: Pick<Deps, "db" | "box">,
    private readonly hostId: string,
  ) {}

  received(jobId: string, state: unknown): void {
    const parsed = MirrorSlice.safeParse(state);
    if (!parsed.success) throw new Invalid(`unreadable state from the coordinator: ${issuesText(parsed.error)}`);
    const slice = parsed.data;
    if (slice.host.id !== this.hostId)
      throw new Invalid(`the coordinator sent the state of host ${slice.host.name}, not this agent's`);
    const { db, box } = this.deps;
    // The coordinator leases one job per env lock at a time: an older job tracked here on the
    // same lock lost its lease (its runner stopped without finishing) and holds nothing now.
    const lock = slice.jobEnvIds[0];
    for (const [id, t] of this.jobs)
      if (id !== jobId && lock !== undefined && t.envIds[0] === lock) this.jobs.delete(id);
    // Envs a job running here holds keep their local rows: their newest changes may not be
    // reported yet, and that job sends them itself.
    const held = new Set([...this.jobs.entries()].filter(([id]) => id !== jobId).flatMap(([, t]) => t.envIds));
    db.$client.transaction(() => {
      ensureMirroredHost(db, slice.host);
      for (const p of slice.projects) mirrorProject(db, projectFromWire(box, p));
      retireUnmirrored(db, slice.host.id, [...slice.environments.map((e) => e.id), ...held]);
      for (const e of slice.environments) if (!held.has(e.id)) mirrorEnvironment(db, envFromWire(box, e));
      for (const d of slice.deployments) if (!held.has(d.envId)) mirrorDeployment(db, d);
      for (const b of slice.backups) if (!held.has(b.envId)) mirrorBackup(db, b);
      for (const j of slice.replacements) mirrorPastJob(db, j);
    })();
    this.jobs.set(jobId, { envIds: slice.jobEnvIds, baseline: this.snapshot(slice.jobEnvIds) });
  }

  /**
   * A job this agent runs by itself (no lease, no slice): its report is what it changes from now
   * on, plus the whole of `newBackups` — rows made here for it that the coordinator has never seen.
   */
  track(jobId: string, envIds: string[], newBackups: string[] = []): void {
    const baseline = this.snapshot(envIds);
    for (const id of newBackups) baseline.backups.delete(id);
    this.jobs.set(jobId, { envIds, baseline });
  }

  report(jobId: string): (StateReport & { state: MirrorChanges }) | null {
    const tracked = this.jobs.get(jobId);
    if (!tracked) return null;
    const now = this.snapshot(tracked.envIds);
    const state: MirrorChanges = {
      environments: diff(tracked.baseline.environments, now.environments).map((c) => ({
        id: c.id,
        set: envColumnsToWire(this.deps.box, c.set),
      })),
      deployments: diff(tracked.baseline.deployments, now.deployments),
      backups: diff(tracked.baseline.backups, now.backups),
    };
    if (!state.environments.length && !state.deployments.length && !state.backups.length) return null;
    return {
      state,
      accepted: () => {
        tracked.baseline = now;
      },
    };
  }

  /**
   * Decisions made on the coordinator for the job's deployments, written to this copy the way
   * the coordinator wrote them (only where none was taken here), and into the baseline too: they
   * came from the coordinator and are not this job's changes to report back.
   */
  decided(jobId: string, decisions: unknown): void {
    const tracked = this.jobs.get(jobId);
    const parsed = z.array(ApprovalWire).max(100).safeParse(decisions);
    if (!tracked || !parsed.success) return;
    const { db } = this.deps;
    for (const d of parsed.data) {
      const row = tracked.baseline.deployments.get(d.id);
      if (!row || !tracked.envIds.includes(row.envId)) continue;
      const written = recordApprovalDecision(db, d.id, d.approvalDecision, d.approvalBy, d.approvalReason);
      if (!written) continue;
      setDeployment(db, d.id, { approvalAt: d.approvalAt });
      tracked.baseline.deployments.set(d.id, { ...row, ...d });
    }
  }

  /** A result's secrets are sealed with this agent's box: they travel open, the coordinator seals them again. */
  openSecrets(outcome: JobOutcome): { outcome: JobOutcome; secrets?: Record<string, string> } {
    const sealed = outcome.status === "succeeded" ? sealedOf(outcome.result) : null;
    if (outcome.status !== "succeeded" || !sealed) return { outcome };
    return {
      outcome: { status: "succeeded", result: withoutSealed(outcome.result) },
      secrets: openSecrets(this.deps.box, sealed),
    };
  }

  forget(jobId: string): void {
    this.jobs.delete(jobId);
  }

  private snapshot(envIds: string[]): Snapshot {
    const { db } = this.deps;
    return {
      environments: byId(db.select().from(environments).where(inArray(environments.id, envIds)).all()),
      deployments: byId(db.select().from(deployments).where(inArray(deployments.envId, envIds)).all()),
      backups: byId(db.select().from(backups).where(inArray(backups.envId, envIds)).all()),
    };
  }
}
