/**
 * The fleet as the coordinator's routes see it: the agent listener's endpoint (known once it
 * runs), the local host's id, the heartbeat interval that decides online/offline, and where a
 * new env goes.
 */
import type { Config } from "../config/schema";
import { Conflict } from "../errors";
import type { Db } from "../state/db";
import { inFleet, placementCandidates } from "./candidates";
import { hostById } from "./hosts";
import { type Labels, validLabels } from "./labels";
import { LogRelay } from "./log-relay";
import { FileRelay, TicketBook } from "./transfer-relay";
import { type Need, placeEnv } from "./placement";
import type { AgentEndpoint, CreatedJoinToken, JoinTokenOptions } from "./tokens";
import { createJoinToken } from "./tokens";

export interface PlaceRequest {
  need: Need;
  lowerable: ("cpus" | "memoryMb")[];
  host?: string;
  labels?: Labels;
  /**
   * A rerun of a failed create: it goes back to the host that has its leftovers (no host id: this
   * coordinator's), and its own row's limits do not count against that host.
   */
  retry: { envId: string; hostId: string | null } | null;
}

/** The chosen host, why, and its machine's size (the limits are fitted to it). */
export interface PlacedHost {
  id: string;
  name: string;
  why: string;
  passedOver: string[];
  capacity: { cpus: number; memoryMb: number; name: string };
}

export class FleetService {
  /** Set by the daemon when the agent listener is up (coordinator role only). */
  endpoint: AgentEndpoint | null = null;
  /** Log readers waiting for, or reading from, agents (logs -f of an env on another host). */
  readonly logs = new LogRelay();
  /** Files of clones across hosts without S3, relayed from the source's host to the target's. */
  readonly files = new FileRelay();
  readonly tickets = new TicketBook();

  constructor(
    readonly db: Db,
    readonly config: Config,
    readonly localHostId: string | null,
  ) {}

  get heartbeatSec(): number {
    return this.config.fleet.heartbeatSec;
  }

  /** The host an env runs on: its host id, or this coordinator's own host for an env without one. */
  envHost(env: { hostId: string | null }): { id: string | null; name: string } {
    const id = env.hostId ?? this.localHostId;
    return { id, name: id === null ? "this host" : (hostById(this.db, id)?.name ?? id) };
  }

  createJoinToken(opts: JoinTokenOptions): CreatedJoinToken {
    return createJoinToken({ db: this.db, endpoint: this.endpoint }, opts);
  }

  /**
   * Where a new env goes; null on a standalone host asked for no host or label (the env stays
   * on this host with no host id, as before the fleet). Refusals come from placeEnv.
   */
  place(req: PlaceRequest, at: Date = new Date()): PlacedHost | null {
    const labels = validLabels(req.labels ?? {});
    const asked = req.host !== undefined || Object.keys(labels).length > 0;
    if (!asked && !inFleet(this.db, this.localHostId)) return null;
    const candidates = placementCandidates(this.db, {
      localHostId: this.localHostId,
      heartbeatSec: this.heartbeatSec,
      at,
      exceptEnvId: req.retry?.envId ?? null,
    });
    let host = req.host;
    const previousId = req.retry ? (req.retry.hostId ?? this.localHostId) : null;
    const previous = candidates.find((c) => c.id === previousId);
    if (previous) {
      if (host !== undefined && host !== previous.name)
        throw new Conflict(
          `the failed create of this environment left its files on host ${previous.name}: rerun it there, or destroy it first`,
        );
      host = previous.name;
    }
    const p = placeEnv(candidates, { need: req.need, lowerable: req.lowerable, host, labels });
    return {
      id: p.host.id,
      name: p.host.name,
      why: p.why,
      passedOver: p.passedOver,
      capacity: { cpus: p.inventory.cores, memoryMb: p.inventory.memoryMb, name: p.host.name },
    };
  }
}
