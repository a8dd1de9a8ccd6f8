/**
 * `env move` as the API calls it: resolve the env and the hosts from state, check the request
 * (planEnvMove), then return the plan (dry run) or queue the move job (src/fleet/move-job.ts),
 * from any host to any other. Refusals change nothing.
 */
import type { CoordinatorDeps } from "../deps";
import { findEnv } from "../env/lookup";
import { Conflict } from "../errors";
import { placementCandidates } from "./candidates";
import { hosts } from "./fleet.sql";
import { envBefore, moveEnvJob } from "./move-job";
import { planEnvMove } from "./move-plan";
import { moveUnderWay } from "./move-sides";
import { MoveEnvRequest, type MoveEnvResponse } from "./schema";

export function startEnvMove(
  deps: CoordinatorDeps,
  name: string,
  input: MoveEnvRequest,
  actor: string,
): MoveEnvResponse {
  const req = MoveEnvRequest.parse(input);
  const env = findEnv(deps.db, name);
  const from = deps.fleet.envHost(env);
  const tier = deps.config.tiers[env.tier];
  const all = deps.db.select({ id: hosts.id, name: hosts.name, address: hosts.address }).from(hosts).all();
  const plan = planEnvMove({
    env: { slug: env.slug, domain: env.domain, status: env.status, cpus: Number(env.cpus), memoryMb: env.memoryMb },
    from,
    to: req.to,
    candidates: placementCandidates(deps.db, {
      localHostId: deps.fleet.localHostId,
      heartbeatSec: deps.fleet.heartbeatSec,
      at: new Date(),
      exceptEnvId: env.id,
    }),
    diskMb: tier.storageGb * 1024,
    s3: deps.config.backups.s3 !== undefined,
    addresses: new Map(all.map((h) => [h.id, h.address])),
  });
  const busy = moveUnderWay(deps.db, env);
  if (busy) throw new Conflict(`${busy}; nothing was changed`);
  if (req.dryRun) return { dryRun: true, plan, job: null };
  // Null only without a host row for the coordinator itself: a standalone host has nowhere to move to.
  const fromId = from.id;
  if (fromId === null) throw new Conflict(`this host is not in a fleet; nothing was changed`);
  const to = all.find((h) => h.name === plan.to);
  if (!to) throw new Conflict(`host ${plan.to} vanished from state; nothing was changed`);
  const backupId = Bun.randomUUIDv7();
  const job = deps.jobs.enqueue(
    moveEnvJob,
    {
      envId: env.id,
      slug: env.slug,
      fromHostId: fromId,
      toHostId: to.id,
      fromName: from.name,
      toName: to.name,
      backupId,
      before: envBefore(deps.db, env.id),
      dns: plan.dns,
    },
    actor,
  );
  deps.audit.record({
    actor,
    action: "env.move",
    target: env.slug,
    details: { from: from.name, to: to.name, backup: backupId, job: job.id },
  });
  return { dryRun: false, plan, job };
}
