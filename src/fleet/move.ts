/**
 * `env move` as the API calls it: resolve the env and the hosts from state, check the request
 * (planEnvMove) and return the plan. Running it is refused for now: the copy spans two hosts'
 * jobs (a backup on the old host, create + restore + health on the new one, then removal on the
 * old one), and the job engine does not chain jobs across hosts yet. The refusal changes nothing.
 */
import type { CoordinatorDeps } from "../deps";
import { findEnv } from "../env/lookup";
import { Conflict } from "../errors";
import { placementCandidates } from "./candidates";
import { hosts } from "./fleet.sql";
import { planEnvMove } from "./move-plan";
import { MoveEnvRequest, type MoveEnvResponse } from "./schema";

export function startEnvMove(deps: CoordinatorDeps, name: string, input: MoveEnvRequest): MoveEnvResponse {
  const req = MoveEnvRequest.parse(input);
  const env = findEnv(deps.db, name);
  const from = deps.fleet.envHost(env);
  const tier = deps.config.tiers[env.tier];
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
    addresses: new Map(
      deps.db
        .select({ id: hosts.id, address: hosts.address })
        .from(hosts)
        .all()
        .map((h) => [h.id, h.address]),
    ),
  });
  if (req.dryRun) return { dryRun: true, plan };
  throw new Conflict(
    `env move checks and plans the move of ${env.slug} to ${plan.to} (--dry-run shows it) but cannot run it yet: copying between two hosts' jobs is not built; nothing was changed`,
  );
}
