/**
 * The one dependency type every layer receives: job steps, domain services, schedules and API
 * routes all take `Deps` (or a `Pick` of it). Types only, so this bottom module pulls no code
 * into anything that imports it (test/architecture.test.ts checks).
 */
import type { AuditService } from "./audit/service";
import type { LoginThrottle } from "./auth/login-throttle";
import type { SecretBox } from "./auth/secretbox";
import type { AuthService } from "./auth/service";
import type { Paths } from "./config/paths";
import type { Config } from "./config/schema";
import type { FleetService } from "./fleet/service";
import type { JobService } from "./jobs/service";
import type { Db } from "./state/db";

/**
 * State, settings, paths and the secret box: all a job step gets, because it is all an agent
 * has. Host adapters are built from config where they are used, never carried here.
 */
export interface Deps {
  db: Db;
  config: Config;
  paths: Paths;
  box: SecretBox;
  /**
   * An agent's download of a relayed transfer's file from the coordinator, for the restore job
   * `jobId` (src/fleet/transfer-relay.ts); a coordinator's jobs fetch in-process instead.
   */
  fetchTransfer?: (jobId: string, file: string, signal: AbortSignal) => Promise<ReadableStream<Uint8Array>>;
}

/**
 * Deps plus the coordinator's services, built once by daemon/services.ts: what API routes,
 * schedules and the entry points that enqueue jobs and audit (env create/destroy, webhooks)
 * receive. An agent never has these: a step that needs them is on the wrong side.
 */
export interface CoordinatorDeps extends Deps {
  auth: AuthService;
  audit: AuditService;
  loginThrottle: LoginThrottle;
  jobs: JobService;
  fleet: FleetService;
  version: string;
  startedAt: number;
}
