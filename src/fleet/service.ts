/**
 * The fleet as the coordinator's routes see it: the agent listener's endpoint (known once it
 * runs), the local host's id, and the heartbeat interval that decides online/offline.
 */
import type { Config } from "../config/schema";
import type { Db } from "../state/db";
import type { AgentEndpoint, CreatedJoinToken, JoinTokenOptions } from "./tokens";
import { createJoinToken } from "./tokens";

export class FleetService {
  /** Set by the daemon when the agent listener is up (coordinator role only). */
  endpoint: AgentEndpoint | null = null;

  constructor(
    readonly db: Db,
    readonly config: Config,
    readonly localHostId: string | null,
  ) {}

  get heartbeatSec(): number {
    return this.config.fleet.heartbeatSec;
  }

  createJoinToken(opts: JoinTokenOptions): CreatedJoinToken {
    return createJoinToken({ db: this.db, endpoint: this.endpoint }, opts);
  }
}
