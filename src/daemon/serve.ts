/**
 * `odooops serve`: the daemon. Standalone = coordinator (API, state, scheduler) and agent (job
 * worker) in one process; both halves talk through the same interfaces a remote agent uses.
 */
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { hostname } from "node:os";
import { createApp } from "../api/app";
import { createAgentApp } from "../api/routes/agent";
import { loadConfig } from "../config/load";
import { resolvePaths } from "../config/paths";
import { Invalid } from "../errors";
import { startAgentDaemon } from "./agent";
import { ensureLocalHost, recordHeartbeat } from "../fleet/hosts";
import { collectContainers, collectInventory } from "../fleet/inventory";
import { ensureAgentApiTls } from "../fleet/tls";
import { Agent } from "../jobs/agent";
import type { AnyJobDef } from "../jobs/define";
import { shutdownJobTracing } from "../jobs/tracing";
import { Log } from "../log";
import { openState } from "../state/db";
import { VERSION } from "../version";
import { idleCollector } from "./idle-gc";
import { InFlight } from "./in-flight";
import { removeLeftoverCopies } from "./leftovers";
import { sweepTransfers } from "../db/clone-transfer/relay-dir";
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

/** The daemon this host's role runs: an agent only works for its coordinator, others are the full daemon. */
export async function startServe(opts: DaemonOptions): Promise<{ stop(): Promise<void> }> {
  const env = opts.env ?? process.env;
  const paths = resolvePaths(opts.root ?? env.ODOOOPS_ROOT);
  const config = loadConfig(paths, { env, overrides: { listen: opts.listen } });
  if (config.role === "agent") return startAgentDaemon({ paths, config, extraJobs: opts.extraJobs });
  return startDaemon(opts);
}

export async function startDaemon(opts: DaemonOptions) {
  const env = opts.env ?? process.env;
  const paths = resolvePaths(opts.root ?? env.ODOOOPS_ROOT);
  const config = loadConfig(paths, { env, overrides: { listen: opts.listen } });
  if (config.role === "agent") throw new Invalid("role agent serves no API: start it with startServe");
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
  const self = ensureLocalHost(db, hostName, config.role);

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
  // A relayed clone's pack does not survive a restart (its restore fails and the chain cleans up).
  await sweepTransfers(deps.paths);
  const agent = new Agent({
    identity,
    channel: deps.jobs.queue,
    registry: deps.jobs.registry,
    // The coordinator's services too: a move (src/fleet/move-job.ts) queues and waits for other jobs.
    deps,
  });
  const unsubscribe = deps.jobs.events.onQueued(() => agent.poke());
  // The jobs of this host stop when cancelled, not up to a heartbeat later.
  const unsubscribeCancels = deps.jobs.events.onCancelRequested((id) => agent.cancel(id));
  agent.start();
  const sweeper = setInterval(() => deps.jobs.queue.recover(), RECOVER_EVERY_MS);
  const scheduler = startScheduler(schedulesFor(config), deps);

  // Before the user API answers: `host token create` right after a start must not be told this
  // host serves no agent API.
  // Every request of both listeners, awaited before the state database closes.
  const inFlight = new InFlight();
  const agentServer = config.role === "coordinator" ? await serveAgentApi(deps, inFlight) : null;
  const app = createApp(deps);
  // The web console at / (src/console): loaded here only, so the CLI's cold start never pays for it.
  const { withConsole } = await import("../console/app");
  const [host, port] = splitListen(config.listen);
  // Once the API and console go quiet after a burst, one full collection returns its garbage to the OS.
  const idle = idleCollector();
  const serveApp = withConsole(deps, app);
  // Uploads (db import) stream to disk; Bun's 128 MB default would refuse real databases.
  // JSON routes keep their own small limit (bodyLimit in src/api/app.ts). A connection that sends
  // nothing is closed after idleTimeoutSec; streaming routes lift it for themselves (keepOpen).
  const server = Bun.serve({
    hostname: host,
    port,
    fetch: inFlight.wrap((req: Request, srv: unknown) => {
      idle.touch();
      return serveApp(req, srv);
    }),
    idleTimeout: config.api.idleTimeoutSec,
    maxRequestBodySize: 256 * 1024 ** 3,
  });
  const url = `http://${host}:${server.port}`;
  writeFileSync(paths.daemonUrlFile, `${url}\n`, { mode: 0o644 });
  log.info("listening", { url, role: config.role, root: paths.dataDir, version: VERSION });
  const localBeat = startLocalHeartbeat(deps, self.id);

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      log.info("shutting down");
      // Stop accepting and stop the clocks first, then wait for what is still running (handlers,
      // scheduled ticks, the local agent's jobs): only then is the state database closed.
      clearInterval(sweeper);
      idle.stop();
      localBeat.stop();
      await Promise.all([agentServer?.stop(true), server.stop(true)]);
      unsubscribe();
      unsubscribeCancels();
      await Promise.all([inFlight.drain(), scheduler.stop(), agent.stop()]);
      await shutdownJobTracing();
      deps.audit.flush();
      rmSync(paths.daemonUrlFile, { force: true });
      db.$client.close();
    })();
    return stopping;
  };
  return { url, port: server.port, paths, config, deps, stop };
}

/** The agent API on its own HTTPS listener (fleet.listen), with the certificate agents pin. */
async function serveAgentApi(deps: ReturnType<typeof buildServices>, inFlight: InFlight) {
  const { config, paths } = deps;
  const tls = await ensureAgentApiTls(paths);
  const [host, port] = splitListen(config.fleet.listen);
  const server = Bun.serve({
    hostname: host,
    port,
    tls: { cert: tls.cert, key: tls.key },
    fetch: inFlight.wrap(createAgentApp(deps, inFlight.signal).fetch),
    idleTimeout: config.api.idleTimeoutSec,
  });
  const url =
    config.fleet.agentUrl ?? `https://${host === "0.0.0.0" || host === "::" ? hostname() : host}:${server.port}`;
  deps.fleet.endpoint = { url, fingerprint: tls.fingerprint };
  log.info("agent API listening", { url, fingerprint: tls.fingerprint });
  return server;
}

/**
 * This host's own row gets the heartbeat a remote agent would send, so host list shows it online.
 * The next beat is timed from the end of the previous one: slow probes never pile up.
 */
function startLocalHeartbeat(deps: ReturnType<typeof buildServices>, hostId: string) {
  const { db, config, paths } = deps;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const beat = async () => {
    try {
      const [inventory, containers] = await Promise.all([collectInventory(config, paths), collectContainers(config)]);
      if (!stopped) recordHeartbeat(db, hostId, { inventory, containers });
    } catch (e) {
      log.warn("local heartbeat failed", { error: e instanceof Error ? e.message : String(e) });
    }
    if (!stopped) timer = setTimeout(beat, config.fleet.heartbeatSec * 1000);
  };
  // Not awaited: a slow docker or PostgreSQL must not hold up the daemon's start.
  void beat();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function splitListen(listen: string): [string, number] {
  const i = listen.lastIndexOf(":");
  return [listen.slice(0, i), Number(listen.slice(i + 1))];
}
