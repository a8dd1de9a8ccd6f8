/**
 * A clone whose source and target run on different hosts, as the API asks for it: the plan with
 * the host of each step (dry run), else the chain job queued on the coordinator and audited.
 * The request was already checked like a same-host clone (restores.ts). The pack travels through
 * the shared S3 target when the coordinator has one, else it is relayed through the coordinator
 * (plan.ts): the plan, the job and the audit name which.
 */
import type { CoordinatorDeps } from "../../deps";
import { envUrl } from "../../env/list";
import type { Environment } from "../../env/env.sql";
import { Conflict } from "../../errors";
import type { CloneJobParams } from "../clone-job";
import { newReplaceToken } from "../replace";
import type { DbOperationPlan, DbOperationResponse } from "../schema";
import { crossHostCloneJob } from "./chain-job";
import { crossHostCloneSteps, transferPathOf, transferWhere } from "./plan";

export interface CrossHostCloneStart {
  source: Environment;
  target: Environment;
  params: CloneJobParams;
  dryRun: boolean;
  actor: string;
  /** The same-host plan view, given these steps. */
  plan(steps: string[]): DbOperationPlan;
}

export function startCrossHostClone(deps: CoordinatorDeps, req: CrossHostCloneStart): DbOperationResponse {
  const { source, target, params } = req;
  const from = deps.fleet.envHost(source);
  const to = deps.fleet.envHost(target);
  const hosts = {
    source: { slug: source.slug, host: from.name },
    target: { slug: target.slug, host: to.name },
    s3: deps.config.backups.s3,
  };
  const { path } = transferPathOf(hosts.s3);
  const transferId = Bun.randomUUIDv7();
  const steps = crossHostCloneSteps(
    {
      ...hosts,
      coordinator: deps.fleet.envHost({ hostId: null }).name,
      anonymize: params.anonymize,
      neutralize: params.neutralize,
      preBackup: params.preBackupId !== null,
      keepOld: params.keepOld,
    },
    transferId,
  );
  const plan: DbOperationPlan = {
    ...req.plan(steps),
    hosts: {
      source: from.name,
      target: to.name,
      transfer: transferWhere(hosts.s3, source.slug, transferId),
      path,
    },
  };
  if (req.dryRun) return { dryRun: true, plan, job: null };
  // Different hosts, so at most one is the coordinator's own: a null id is a host never enrolled.
  if (from.id === null || to.id === null)
    throw new Conflict(`the hosts of ${source.slug} and ${target.slug} are not both known; nothing was changed`);
  const job = deps.jobs.enqueue(
    crossHostCloneJob,
    {
      ...params,
      fromHostId: from.id,
      toHostId: to.id,
      fromName: from.name,
      toName: to.name,
      transferId,
      via: path,
      exportToken: newReplaceToken(),
      targetUrl: envUrl(target, deps.config),
    },
    req.actor,
  );
  deps.audit.record({
    actor: req.actor,
    action: "db.clone",
    target: target.slug,
    details: {
      from: source.slug,
      method: params.method,
      rules: params.rules?.file ?? null,
      anonymize: params.anonymize,
      neutralize: params.neutralize,
      preBackup: params.preBackupId,
      fromHost: from.name,
      toHost: to.name,
      transfer: plan.hosts?.transfer ?? null,
      path,
      job: job.id,
    },
  });
  return { dryRun: false, plan, job };
}
