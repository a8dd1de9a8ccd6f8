/**
 * A whole standalone host for environment tests: a private PostgreSQL cluster (no docker rule
 * in pg_hba: env create must add its own), a private nginx, the API on a temp root whose nginx
 * dir is the test nginx's, and a local agent running jobs. Odoo is the stand-in image.
 */
import type { SQL } from "bun";
import { eq } from "drizzle-orm";
import { ConfigSchema } from "../../src/config/schema";
import { environments, type Environment } from "../../src/env/env.sql";
import { envDbLogin } from "../../src/env/tenant-login";
import { withTenant } from "../../src/host/postgres/tenant";
import { Agent } from "../../src/jobs/agent";
import { TERMINAL } from "../../src/jobs/status";
import type { JobView } from "../../src/jobs/view";
import { makeTestApi } from "./api";
import { removeByNamePrefix, testNamePrefix } from "./docker";
import { hostConfig, randomPortBase } from "./host-config";
import { startNginx } from "./nginx";
import { startPostgres } from "./postgres";

export { STANDIN_IMAGE } from "./host-config";

export async function startEnvHost(opts: { agent?: boolean; configOverrides?: Record<string, unknown> } = {}) {
  const pg = await startPostgres({ dockerAccess: false });
  const nginx = await startNginx();
  const namePrefix = testNamePrefix();
  const config = ConfigSchema.parse({
    ...hostConfig({ pg, nginx, baseDomain: "test.localhost", namePrefix, portsFrom: randomPortBase(), portCount: 200 }),
    ...opts.configOverrides,
  });
  const api = await makeTestApi({ root: nginx.dir, config });
  const deps = api.deps;
  const agent = new Agent({
    identity: { hostId: "test", owner: `test:${process.pid}` },
    channel: deps.jobs.queue,
    registry: deps.jobs.registry,
    deps,
    pollMs: 100,
  });
  const unsubscribe = deps.jobs.events.onQueued(() => agent.poke());
  if (opts.agent !== false) agent.start();

  async function waitJob(id: string, timeoutMs = 180_000): Promise<JobView> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const v = deps.jobs.queue.view(id);
      if (TERMINAL.has(v.status)) return v;
      if (Date.now() > until) throw new Error(`job ${id} still ${v.status}`);
      await Bun.sleep(100);
    }
  }

  /** The env's stored row (it must exist). */
  function env(slug: string): Environment {
    const row = deps.db.select().from(environments).where(eq(environments.slug, slug)).get();
    if (!row) throw new Error(`no environment ${slug}`);
    return row;
  }

  return {
    pg,
    nginx,
    api,
    deps,
    config,
    waitJob,
    env,
    /** `fn` on a connection as the env's own role, as the daemon reads its tables. */
    asEnv<T>(slug: string, fn: (sql: SQL) => Promise<T>): Promise<T> {
      return withTenant(envDbLogin(deps, env(slug)), fn);
    },
    /** Teardown: destroys the env through the API if it still exists, waiting for the job (errors ignored). */
    async destroyEnv(name: string) {
      const res = await api.request(`/api/v1/environments/${name}`, { method: "DELETE" });
      if (res.status === 202) await waitJob(((await res.json()) as JobView).id).catch(() => undefined);
    },
    /** Through nginx with the env's Host header, like a browser would. */
    viaNginx(domain: string, path: string) {
      // No pooled connection: an nginx reload closes idle keep-alive sockets under the client.
      return fetch(`http://127.0.0.1:${nginx.port}${path}`, {
        headers: { host: domain },
        redirect: "manual",
        keepalive: false,
      });
    },
    async stop() {
      unsubscribe();
      await agent.stop(5_000);
      // Whatever a failed test left behind on the shared dockerd.
      await removeByNamePrefix(namePrefix);
      await nginx.stop();
      api.cleanup();
      await pg.stop();
    },
  };
}
