/**
 * A policy's gate command (`health_gates.<tier>.tests.command`, `smoke_tests.command`): run as
 * argv in a throwaway container of the release image on the env's docker network, never as a
 * shell string on the host. Output goes to the job log; the tail explains a failure.
 */
import { runThrowaway, type OneShotResult } from "../env/odoo-once";
import type { Environment } from "../env/env.sql";
import type { Mount } from "../host/docker";
import type { Deps } from "../deps";

export interface GateCommand {
  image: string;
  name: string;
  network: string;
  command: string[];
  env: Record<string, string>;
  secrets?: Record<string, string>;
  mounts?: Mount[];
  log(line: string): void;
  signal: AbortSignal;
}

export function runGateCommand(deps: Deps, env: Environment, g: GateCommand): Promise<OneShotResult> {
  const [entrypoint, ...args] = g.command;
  return runThrowaway(deps, env, { ...g, entrypoint, args, timeoutMs: 30 * 60_000, tailLines: 30 });
}
