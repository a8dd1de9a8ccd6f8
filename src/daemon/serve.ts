/**
 * `odooops serve`: the daemon. Standalone = coordinator (API, state, scheduler) and agent (job
 * worker) in one process; both halves talk through the same interfaces a remote agent uses.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { eq } from "drizzle-orm";
import { createApp } from "../api/app";
import type { ApiDeps } from "../api/deps";
import { AuditService } from "../audit/service";
import { AuthService } from "../auth/service";
import { loadConfig } from "../config/load";
import { resolvePaths } from "../config/paths";
import { hosts } from "../fleet/fleet.sql";
import { Log } from "../log";
import { now } from "../state/columns";
import { openState } from "../state/db";
import { VERSION } from "../version";

const log = Log.create("daemon");

export interface DaemonOptions {
  root?: string;
  listen?: string;
  env?: Record<string, string | undefined>;
}

export async function startDaemon(opts: DaemonOptions) {
  const env = opts.env ?? process.env;
  const paths = resolvePaths(opts.root ?? env.ODOOOPS_ROOT);
  const config = loadConfig(paths, { env, overrides: { listen: opts.listen } });
  for (const dir of [paths.dataDir, paths.logsDir, paths.jobLogsDir, paths.runDir, paths.nginxDir, paths.envsDir, paths.backupsDir]) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
  }
  const db = openState(paths.stateDb);
  const auth = new AuthService(db, { jwtSecretFile: paths.jwtSecretFile, sessionHours: config.sessionHours });
  const written = await auth.bootstrapAdmin(paths.adminPasswordFile, env.ODOOOPS_ADMIN_PASSWORD);
  if (written) log.info(`first start: log in as admin with the password in ${written}`);
  auth.writeLocalToken(paths.localTokenFile);

  const hostName = hostname();
  const self = db.select().from(hosts).where(eq(hosts.name, hostName)).get() ??
    db.insert(hosts).values({ name: hostName, role: config.role, status: "online" }).returning().get();
  db.update(hosts).set({ status: "online", lastHeartbeatAt: now() }).where(eq(hosts.id, self.id)).run();

  const deps: ApiDeps = { db, config, paths, auth, audit: new AuditService(db), version: VERSION, startedAt: Date.now() };
  const app = createApp(deps);
  const [host, port] = splitListen(config.listen);
  const server = Bun.serve({ hostname: host, port, fetch: app.fetch, idleTimeout: 0 });
  const url = `http://${host}:${server.port}`;
  writeFileSync(paths.daemonUrlFile, `${url}\n`, { mode: 0o644 });
  log.info("listening", { url, role: config.role, root: paths.dataDir, version: VERSION });

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      log.info("shutting down");
      await server.stop(true);
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
