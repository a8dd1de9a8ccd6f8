/**
 * `odooops serve`: the daemon. Standalone = coordinator (API, state, scheduler) and agent (job
 * worker) in one process; both halves talk through the same interfaces a remote agent uses.
 */
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { hostname } from "node:os";
import { eq } from "drizzle-orm";
import { createApp } from "../api/app";
import { loadConfig } from "../config/load";
import { resolvePaths } from "../config/paths";
import { hosts } from "../fleet/fleet.sql";
import { Agent } from "../jobs/agent";
import type { AnyJobDef } from "../jobs/define";
import { Log } from "../log";
import { now } from "../state/columns";
import { openState } from "../state/db";
import { VERSION } from "../version";
import { removeLeftoverCopies } from "./leftovers";
import { startScheduler } from "./scheduler";
import { schedulesFor } from "./schedules";
import { buildServices } from "./services";

const log = Log.create("daemon");

export interface DaemonOptions {
  root?: string;
  listen?: string;
  env?: Record<string, string | undefined>;
  /** Job kinds beyond the built-in ones (tests register probes). */
  extraJobs?: AnyJobDef[];
}

/** Set to 1 by bench/audit-overhead.ts for its baseline run: turns the audit log and login throttling off. */
export const BENCH_UNPROTECTED_ENV = "ODOOOPS_BENCH_UNPROTECTED";

/** How often expired leases (agents that died) are swept back into the queue. */
const RECOVER_EVERY_MS = 10_000;

export async function startDaemon(opts: DaemonOptions) {
  const env = opts.env ?? process.env;
  const paths = resolvePaths(opts.root ?? env.ODOOOPS_ROOT);
  const config = loadConfig(paths, { env, overrides: { listen: opts.listen } });
  mkdirSync(paths.dataDir, { recursive: true, mode: 0o751 });
  // The data dir is traversable (nginx's workers serve the ACME webroot); everything else in it
  // holds state, secrets, mirrors or logs and stays root:odooops 0750 even if it drifted.
  for (const dir of [
    dirname(paths.stateDb),
    paths.logsDir,
    paths.jobLogsDir,
    paths.runDir,
    paths.nginxDir,
    paths.envsDir,
    paths.backupsDir,
    paths.certsDir,
    paths.gitCacheDir,
    paths.workDir,
  ]) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    chmodSync(dir, 0o750);
  }
  mkdirSync(paths.acmeWebroot, { recursive: true, mode: 0o755 });
  chmodSync(paths.acmeWebroot, 0o755);
  const hostName = hostname();
  Log.configure({ level: config.log.level, format: config.log.format, base: { host: hostName } });
  const db = openState(paths.stateDb);
  const self =
    db.select().from(hosts).where(eq(hosts.name, hostName)).get() ??
    db.insert(hosts).values({ name: hostName, role: config.role, status: "online" }).returning().get();
  db.update(hosts).set({ status: "online", lastHeartbeatAt: now() }).where(eq(hosts.id, self.id)).run();

  const unprotectedForBenchmark = env[BENCH_UNPROTECTED_ENV] === "1";
  if (unprotectedForBenchmark)
    log.warn(`${BENCH_UNPROTECTED_ENV}=1: NO audit log and NO login throttling (benchmark baseline only)`);
  const deps = buildServices({
    db,
    config,
    paths,
    hostId: self.id,
    extraJobs: opts.extraJobs,
    unprotectedForBenchmark,
  });
  const written = await deps.auth.bootstrapAdmin(paths.adminPasswordFile, env.ODOOOPS_ADMIN_PASSWORD);
  if (written) log.info(`first start: log in as admin with the password in ${written}`);
  deps.auth.writeLocalToken(paths.localTokenFile);

  // The local agent: same lease/heartbeat channel a remote agent uses. Leases of an earlier
  // process of this host (a crash, kill -9) are released at once so their jobs resume now.
  const identity = { hostId: self.id, owner: `${self.id}:${process.pid}:${Bun.randomUUIDv7().slice(-8)}` };
  const requeued = deps.jobs.queue.recover({ hostId: self.id, currentOwner: identity.owner });
  if (requeued) log.warn(`resuming ${requeued} job(s) interrupted by the previous stop`);
  await removeLeftoverCopies(deps);
  const agent = new Agent({
    identity,
    channel: deps.jobs.queue,
    registry: deps.jobs.registry,
    deps: { db, config, paths, box: deps.box },
  });
  const unsubscribe = deps.jobs.events.onQueued(() => agent.poke());
  agent.start();
  const sweeper = setInterval(() => deps.jobs.queue.recover(), RECOVER_EVERY_MS);
  const scheduler = startScheduler(schedulesFor(config), deps);

  const app = createApp(deps);
  const [host, port] = splitListen(config.listen);
  // Uploads (db import) stream to disk; Bun's 128 MB default would refuse real databases.
  // JSON routes keep their own small limit (bodyLimit in src/api/app.ts). A connection that sends
  // nothing is closed after idleTimeoutSec; streaming routes lift it for themselves (keepOpen).
  const server = Bun.serve({
    hostname: host,
    port,
    fetch: app.fetch,
    idleTimeout: config.api.idleTimeoutSec,
    maxRequestBodySize: 256 * 1024 ** 3,
  });
  const url = `http://${host}:${server.port}`;
  writeFileSync(paths.daemonUrlFile, `${url}\n`, { mode: 0o644 });
  log.info("listening", { url, role: config.role, root: paths.dataDir, version: VERSION });

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      log.info("shutting down");
      clearInterval(sweeper);
      scheduler.stop();
      unsubscribe();
      await agent.stop();
      await server.stop(true);
      deps.audit.flush();
      rmSync(paths.daemonUrlFile, { force: true });
      db.$client.close();
    })();
    return stopping;
  };
  return { url, port: server.port, paths, config, deps, stop };
}

function splitListen(listen: string): [string, number] {
  const i = listen.lastIndexOf(":");
  return [listen.slice(0, i), Number(listen.slice(i + 1))];
}
