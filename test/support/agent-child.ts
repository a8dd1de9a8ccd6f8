/**
 * A real job-running process for kill -9 tests: `bun test/support/agent-child.ts <root> <config.json> <owner>`
 * runs the jobs queued in <root>'s state with the given config, as the daemon's agent does, until
 * it is killed. Whatever it spawned (pg_dump, pg_restore, containers) is orphaned like a crashed
 * daemon's. The test-only pause hook (src/db/copies/pause.ts) comes from the environment.
 */
import { readFileSync } from "node:fs";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { buildServices } from "../../src/daemon/services";
import { Agent } from "../../src/jobs/agent";
import { openState } from "../../src/state/db";

const [root, configFile, owner] = process.argv.slice(2) as [string, string, string];
const paths = resolvePaths(root);
const config = ConfigSchema.parse(JSON.parse(readFileSync(configFile, "utf8")));
const db = openState(paths.stateDb);
const deps = buildServices({ db, config, paths, hostId: null });
const agent = new Agent({
  identity: { hostId: "test", owner },
  channel: deps.jobs.queue,
  registry: deps.jobs.registry,
  deps,
  pollMs: 20,
  leaseMs: 60_000,
  heartbeatMs: 1000,
});
agent.start();
