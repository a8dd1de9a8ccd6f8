/**
 * Env jobs really run on a remote agent. A coordinator (`startDaemon`, role coordinator) and an
 * agent daemon (`startAgentDaemon`, joined with a token over the pinned HTTPS agent API), each
 * with its own root, PostgreSQL cluster, nginx and docker name prefix. An env placed on the agent
 * host is created, stopped, started, backed up and destroyed through the coordinator's API; the
 * jobs run on the agent against its mirrored state, and what they change comes back.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { eq } from "drizzle-orm";
import { SecretBox } from "../../src/auth/secretbox";
import { environments } from "../../src/env/env.sql";
import type { EnvDetail } from "../../src/env/schema";
import { run } from "../../src/exec/run";
import { listDatabases, pgConnect } from "../../src/host/postgres";
import { openState } from "../../src/state/db";
import type { JobView } from "../../src/jobs/view";
import { type FleetAgent, type FleetHost, startFleet } from "../support/fleet";
import type { TestPostgres } from "../support/postgres";

let fleet: Awaited<ReturnType<typeof startFleet>>;
let own: FleetHost;
let agentHost: FleetAgent;
const coordinator = () => fleet.coordinator();
const agent = () => agentHost.daemon;

beforeAll(async () => {
  fleet = await startFleet({ coordinatorAddress: "127.0.0.1", agents: [{ name: "agent-env", address: "127.0.0.1" }] });
  own = fleet.coordinatorHost;
  agentHost = fleet.agents[0]!;
}, 180_000);

afterAll(async () => {
  await fleet?.cleanup();
}, 120_000);

const api = <T>(method: string, path: string, body?: unknown) => fleet.api<T>(method, path, body);
const waitJob = (id: string) => fleet.waitJob(id, 150_000);

async function databases(pg: TestPostgres, name: string): Promise<string[]> {
  const admin = pgConnect({ host: pg.host, port: pg.port, user: pg.user, password: pg.password });
  try {
    return await listDatabases(admin, name);
  } finally {
    await admin.close();
  }
}

const containers = async (namePrefix: string) =>
  (
    await run({ argv: ["docker", "ps", "-a", "--format", "{{.Names}} {{.State}}", "--filter", `name=^${namePrefix}-`] })
  ).stdout
    .split("\n")
    .filter(Boolean);

const viaAgentNginx = (domain: string, path: string) =>
  fetch(`http://127.0.0.1:${agentHost.nginx.port}${path}`, { headers: { host: domain }, keepalive: false });

/** `env create --host agent-env` through the coordinator's API: placement puts the env on the agent. */
async function createOnAgent(name: string): Promise<{ envId: string; slug: string; job: JobView }> {
  const { status, body } = await api<{ env: { id: string; slug: string; host: string | null }; job: JobView }>(
    "POST",
    "/environments",
    { name, tier: "dev", host: "agent-env" },
  );
  expect(status).toBe(202);
  expect(body.env.host).toBe("agent-env");
  return { envId: body.env.id, slug: body.env.slug, job: body.job };
}

describe("an env placed on a remote agent", () => {
  let slug: string;
  let envId: string;

  test("env create runs on the agent: its container, its database, its nginx; the coordinator sees the result", async () => {
    const created = await createOnAgent("remote-shop");
    ({ slug, envId } = created);
    expect(coordinator().deps.jobs.queue.row(created.job.id).hostId).toBe(agent().hostId);
    const job = await waitJob(created.job.id);
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");

    const { body: env } = await api<EnvDetail>("GET", `/environments/${slug}`);
    expect(env.status).toBe("active");
    expect(env.httpPort).toBeGreaterThan(0);
    // The ports the agent chose, from its own range and its own envs.
    const agentRange = agent().config.ports;
    expect(env.httpPort!).toBeGreaterThanOrEqual(agentRange.from);
    expect(env.httpPort!).toBeLessThanOrEqual(agentRange.to);

    expect(await containers(agentHost.prefix)).toEqual([`${agentHost.prefix}-${slug}-r1 running`]);
    expect(await containers(own.prefix)).toEqual([]);
    const row = coordinator().deps.db.select().from(environments).where(eq(environments.id, envId)).get()!;
    expect(await databases(agentHost.pg, row.dbName)).toEqual([row.dbName]);
    expect(await databases(own.pg, row.dbName)).toEqual([]);

    const health = await viaAgentNginx(row.domain, "/web/health?db_server_status=1");
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "pass", db_server_status: true });
    // The vhost lives on the agent, not the coordinator.
    expect(existsSync(`${agentHost.nginx.sitesDir}/${slug}.conf`)).toBe(true);
    expect(existsSync(`${own.nginx.sitesDir}/${slug}.conf`)).toBe(false);

    // The Odoo admin password the agent set: sealed back with the coordinator's box on the env row,
    // and shown once to the creator (the first read of the finished job, in waitJob).
    const agentDb = openState(agent().paths.stateDb);
    try {
      const agentRow = agentDb.select().from(environments).where(eq(environments.id, envId)).get()!;
      const password = SecretBox.fromFile(agent().paths.secretKeyFile).open(agentRow.odooAdminPasswordEnc!);
      expect(coordinator().deps.box.open(row.odooAdminPasswordEnc!)).toBe(password);
      expect(job.result?.secrets).toEqual({ adminPassword: password });
    } finally {
      agentDb.$client.close();
    }
  }, 180_000);

  test("env stop and env start run on the agent", async () => {
    const stop = await api<JobView>("POST", `/environments/${slug}/stop`);
    expect(stop.status).toBe(202);
    expect((await waitJob(stop.body.id)).status).toBe("succeeded");
    expect((await api<EnvDetail>("GET", `/environments/${slug}`)).body.status).toBe("stopped");
    expect(await containers(agentHost.prefix)).toEqual([`${agentHost.prefix}-${slug}-r1 exited`]);

    const start = await api<JobView>("POST", `/environments/${slug}/start`);
    expect(start.status).toBe(202);
    expect((await waitJob(start.body.id)).status).toBe("succeeded");
    expect((await api<EnvDetail>("GET", `/environments/${slug}`)).body.status).toBe("active");
    const row = coordinator().deps.db.select().from(environments).where(eq(environments.id, envId)).get()!;
    expect((await viaAgentNginx(row.domain, "/web/health?db_server_status=1")).status).toBe(200);
  }, 120_000);

  test("logs -f through the coordinator: a line the agent's container prints reaches the reader; the follow ends when the reader goes away", async () => {
    const container = `${agentHost.prefix}-${slug}-r1`;
    const mark = `relayed-${Bun.randomUUIDv7()}`;
    const reader = new AbortController();
    // The response starts with the first relayed byte: read it while the container prints.
    const response = fetch(`${coordinator().url}/api/v1/environments/${slug}/logs?follow=true&tail=0`, {
      headers: { authorization: `Bearer ${fleet.token}` },
      signal: reader.signal,
    });
    let seen = "";
    let status = 0;
    let cancel = async () => {};
    const readUntil = (async () => {
      const res = await response;
      status = res.status;
      const body = res.body!.getReader();
      cancel = () => body.cancel();
      while (!seen.includes(mark)) {
        const { value, done } = await body.read();
        if (done) break;
        seen += new TextDecoder().decode(value);
      }
    })();
    // Printed by the container's main process, as Odoo's own log lines are; printed again until
    // it arrives, since the agent's `docker logs --follow` starts at some point after the request.
    for (let i = 0; !seen.includes(mark); i++) {
      if (i > 150) throw new Error(`never relayed (status ${status}); got: ${seen.slice(-500)}`);
      await run({ argv: ["docker", "exec", container, "sh", "-c", `echo ${mark} > /proc/1/fd/1`] });
      await Promise.race([readUntil, Bun.sleep(200)]);
    }
    expect(status).toBe(200);
    expect(seen).toContain(`${mark}\n`);
    reader.abort();
    await cancel().catch(() => undefined);
    // The agent learns it at its next chunk (at the latest its keepalive) and stops `docker logs`.
    const followers = async () =>
      (await run({ argv: ["pgrep", "-f", `logs --follow --tail 0 ${container}`] }, { nothrow: true })).stdout.trim();
    for (let i = 0; coordinator().deps.fleet.logs.size > 0 || (await followers()) !== ""; i++) {
      if (i > 300) throw new Error(`the agent still follows: ${await followers()}`);
      await Bun.sleep(100);
    }

    // Without -f: the tail, then the end.
    const plain = await fetch(`${coordinator().url}/api/v1/environments/${slug}/logs?tail=50`, {
      headers: { authorization: `Bearer ${fleet.token}` },
    });
    expect(plain.status).toBe(200);
    expect(await plain.text()).toContain(`${mark}\n`);
  }, 120_000);

  test("db backup runs on the agent; the completed backup row is on the coordinator", async () => {
    const backup = await api<JobView>("POST", `/environments/${slug}/backups`);
    expect(backup.status).toBe(202);
    const job = await waitJob(backup.body.id);
    expect(job.error).toBeNull();
    const { body: list } = await api<{ status: string; location: { local: string | null } }[]>(
      "GET",
      `/environments/${slug}/backups`,
    );
    expect(list).toHaveLength(1);
    expect(list[0]!.status).toBe("completed");
    // Written under the agent's root, not the coordinator's.
    expect(list[0]!.location.local?.startsWith(agent().paths.dataDir)).toBe(true);
    expect(existsSync(list[0]!.location.local!)).toBe(true);
  }, 120_000);

  test("env destroy runs on the agent: container and database gone there, the env destroyed on the coordinator", async () => {
    const row = coordinator().deps.db.select().from(environments).where(eq(environments.id, envId)).get()!;
    const destroy = await api<JobView>("DELETE", `/environments/${slug}`);
    expect(destroy.status).toBe(202);
    const job = await waitJob(destroy.body.id);
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    const after = coordinator().deps.db.select().from(environments).where(eq(environments.id, envId)).get()!;
    expect(after.status).toBe("destroyed");
    expect(after.httpPort).toBeNull();
    expect(await containers(agentHost.prefix)).toEqual([]);
    expect(await databases(agentHost.pg, row.dbName)).toEqual([]);
    expect(existsSync(`${agentHost.nginx.sitesDir}/${slug}.conf`)).toBe(false);
  }, 120_000);
});
