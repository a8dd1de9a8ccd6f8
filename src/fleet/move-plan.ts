/**
 * `env move ENV --to HOST`, planned: a pure check of the request against the hosts as placement
 * sees them, and the steps the move takes. The old copy is removed only after the new one is
 * healthy, so the steps are listed in that order; the DNS line says where to point the env's
 * domain, because DNS is the user's (the coordinator never changes it).
 */
import { Conflict, Invalid } from "../errors";
import { type EnvStatus, isCreated } from "../env/vocabulary";
import { type Candidate, type Need, placeEnv } from "./placement";

export interface MoveRequest {
  env: { slug: string; domain: string; status: EnvStatus; cpus: number; memoryMb: number };
  /** The host the env runs on now (an env without a host id: the coordinator's own). */
  from: { id: string | null; name: string };
  to: string;
  candidates: Candidate[];
  /** The env's tier storage, counted against the target's free disk. */
  diskMb: number;
  /**
   * The transfer path: the shared S3 target of backups (backups.s3) when configured; else the old
   * host's local backup, fetched by the new host through the coordinator (transfer-relay.ts).
   */
  s3: boolean;
  /** Addresses the hosts were enrolled from, by host id (null when unknown). */
  addresses: Map<string, string | null>;
}

export interface MovePlan {
  env: string;
  from: string;
  to: string;
  /** Why the target fits, from placement. */
  fit: string;
  /** How the copy travels: `s3` (the shared target) or `relay` (through the coordinator). */
  transfer: "s3" | "relay";
  steps: string[];
  /** What the user points where, once the env answers on the new host. */
  dns: string;
}

export function planEnvMove(req: MoveRequest): MovePlan {
  const { env, from, to } = req;
  if (to === from.name) throw new Invalid(`${env.slug} already runs on host ${to}`);
  if (!isCreated(env.status))
    throw new Conflict(`${env.slug} is ${env.status}; only an active or stopped environment can be moved`);
  const need: Need = { cpus: env.cpus, memoryMb: env.memoryMb, diskMb: req.diskMb };
  // Placement names the reason: unknown, offline, draining or too small.
  const placed = placeEnv(req.candidates, { need, host: to });
  const address = req.addresses.get(placed.host.id) ?? null;
  return {
    env: env.slug,
    from: from.name,
    to: placed.host.name,
    fit: placed.why,
    transfer: req.s3 ? "s3" : "relay",
    steps: [
      req.s3
        ? `back up ${env.slug} on ${from.name} to the shared S3 target`
        : `back up ${env.slug} on ${from.name} into its local backups (no shared S3 target: the copy is relayed through the coordinator)`,
      req.s3
        ? `create ${env.slug}'s database, role, filestore and vhost on ${to} and restore the backup there`
        : `create ${env.slug}'s database, role, filestore and vhost on ${to} and restore the backup there, fetched from ${from.name} through the coordinator and checked against its recorded manifest`,
      `start ${env.slug} on ${to} and health-check it through ${to}'s nginx`,
      `switch ${env.slug}'s host to ${to} in the coordinator's state`,
      `stop and remove ${env.slug}'s container, vhost and database on ${from.name}`,
    ],
    dns: `point ${env.domain} at ${address ?? `the address of host ${to}`} (${to}); until then it keeps reaching ${from.name}, which stops serving ${env.slug} after the move`,
  };
}
