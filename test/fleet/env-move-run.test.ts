/**
 * `env move ENV --to HOST`, run: a coordinator (which runs envs itself) and an agent daemon, each
 * with its own root, PostgreSQL, nginx and docker prefix, sharing one S3 target (a private
 * s3rver), as in cross-host-restore.test.ts. A move carries the rows and files to the agent,
 * which serves them through its nginx, and leaves nothing on the coordinator; a move whose
 * target cannot start the env leaves the old one serving and nothing on the target.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { LABEL_ENV } from "../../src/env/resources";
import type { JobView } from "../../src/jobs/view";
import { type FleetAgent, type FleetHost, startFleet } from "../support/fleet";
import type { TestNginx } from "../support/nginx";
import type { TestPostgres } from "../support/postgres";
import { runCliWith } from "../support/cli";

let fleet: Awaited<ReturnType<typeof startFleet>>;
let own: FleetHost;
let agentHost: FleetAgent;
const coordinator = () => fleet.coordinator();
const agent = () => agentHost.daemon;

beforeAll(async () => {
  fleet = await startFleet({
    coordinatorAddress: "127.0.0.1",
    agents: [{ name: "mv-agent", address: "127.0.0.1" }],
    s3Bucket: "mv",
  });
  own = fleet.coordinatorHost;
  agentHost = fleet.agents[0]!;
}, 180_000);

afterAll(async () => {
  // Every stage runs even when an earlier one throws: nothing of this file may outlive it.
  await fleet?.cleanup();
}, 120_000);

const api = <T>(method: string, path: string, body?: unknown) => fleet.api<T>(method, path, body);
const waitJob = (id: string) => fleet.waitJob(id, 150_000);

async function create(name: string, host: string): Promise<Environment> {
  const { status, body } = await api<{ env: { id: string }; job: JobView; error?: unknown }>("POST", "/environments", {
    name,
    tier: "dev",
    host,
  });
  expect({ status, error: body.error }).toEqual({ status: 202, error: undefined });
  const job = await waitJob(body.job.id);
  expect(job.error).toBeNull();
  return coordinator().deps.db.select().from(environments).where(eq(environments.id, body.env.id)).get()!;
}

/** The partners' rows, independent of the product: what a move must carry over byte for byte. */
const partnerSum = (pg: TestPostgres, db: string) =>
  pg.query(db, async (sql) => {
    const [r] = await sql<{ sum: string; n: number }[]>`
      SELECT md5(string_agg(concat_ws('|', id, name, email), ',' ORDER BY id)) AS sum, count(*)::int AS n FROM res_partner`;
    return r!;
  });

const databases = (pg: TestPostgres, env: Environment) =>
  pg.query("postgres", async (sql) =>
    (await sql<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE ${`${env.dbName}%`}`).map(
      (r) => r.datname,
    ),
  );

/** The env's containers on one host: both hosts share this machine's docker daemon, told apart by prefix. */
async function containers(env: Environment, namePrefix: string): Promise<string[]> {
  const r = await run({
    argv: ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", `label=${LABEL_ENV}=${env.id}`],
  });
  return r.stdout.split("\n").filter((n) => n.startsWith(`${namePrefix}-`));
}

/** The status of the env's health page through one host's nginx; "closed" when that nginx has no vhost for it (its default server drops the request). */
const health = (nginx: TestNginx, env: Environment) =>
  fetch(`http://127.0.0.1:${nginx.port}/web/health?db_server_status=1`, { headers: { host: env.domain } }).then(
    (r) => r.status,
    (e: unknown) => {
      if ((e as { code?: string }).code === "ECONNRESET") return "closed";
      throw e;
    },
  );

const filestoreOf = (env: Environment, deps: Parameters<typeof envResources>[1]) =>
  join(envResources(env, deps).dataDir, "filestore", env.dbName);

const envRow = (id: string) => coordinator().deps.db.select().from(environments).where(eq(environments.id, id)).get()!;

const cli = (argv: string[]) =>
  runCliWith(argv, {
    fetch: (url, init) => fetch(url, init),
    env: { ODOOOPS_URL: coordinator().url, ODOOOPS_TOKEN: fleet.token, ODOOOPS_ROOT: "/nonexistent" },
  });

const agentDeps = () => ({ paths: agent().paths, config: agent().config });

describe("env move, run", () => {
  test("the env moves from the coordinator to the agent: same rows and files through the agent's nginx, gone from the coordinator", async () => {
    await fleet.waitForInventory([hostname(), "mv-agent"]);
    const env = await create("mv-shop", hostname());
    expect(env.hostId).toBe(coordinator().deps.fleet.localHostId);
    await own.pg.query(env.dbName, async (sql) => {
      for (let i = 0; i < 50; i++)
        await sql`INSERT INTO res_partner (name, email) VALUES (${`moved ${i}`}, ${`p${i}@mv.example`})`;
    });
    const dir = filestoreOf(env, coordinator().deps);
    mkdirSync(join(dir, "cd"), { recursive: true });
    writeFileSync(join(dir, "cd", "cdef012345"), "the moved attachment");
    const before = await partnerSum(own.pg, env.dbName);
    expect(before.n).toBeGreaterThanOrEqual(50);
    expect(await health(own.nginx, env)).toBe(200);

    // The real CLI, following the job to its end: --json prints the finished job.
    const out = await cli(["--json", "env", "move", env.slug, "--to", "mv-agent", "--wait"]);
    expect({ code: out.code, stderr: out.stderr }).toMatchObject({ code: 0 });
    const job = JSON.parse(out.stdout) as JobView;
    expect(job.kind).toBe("env.move");
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    expect(job.result).toMatchObject({ env: env.slug, from: hostname(), to: "mv-agent" });
    expect(String(job.result?.dns)).toStartWith(`point ${env.domain} at `);

    const moved = envRow(env.id);
    expect(moved.hostId).toBe(agent().hostId);
    expect(moved.status).toBe("active");
    expect(await partnerSum(agentHost.pg, env.dbName)).toEqual(before);
    expect(readFileSync(join(filestoreOf(env, agentDeps()), "cd", "cdef012345"), "utf8")).toBe("the moved attachment");
    expect(await health(agentHost.nginx, env)).toBe(200);
    expect((await containers(env, agentHost.prefix)).length).toBeGreaterThan(0);

    // Gone from the old host: container, vhost, database, files.
    expect(await containers(env, own.prefix)).toEqual([]);
    expect(await health(own.nginx, env)).toBe("closed");
    expect(await databases(own.pg, env)).toEqual([]);
    expect(existsSync(envResources(env, coordinator().deps).dir)).toBe(false);

    const audit = await api<{ action: string; details: Record<string, unknown> }[]>(
      "GET",
      "/audit/logs?action=env.move",
    );
    expect(audit.body[0]?.details).toMatchObject({ from: hostname(), to: "mv-agent", job: job.id });
  }, 900_000);

  test("a move whose target cannot start the env leaves the old one serving and nothing on the target", async () => {
    const env = await create("mv-stay", hostname());
    await own.pg.query(env.dbName, async (sql) => {
      await sql`INSERT INTO res_partner (name, email) VALUES ('stays', 'stays@mv.example')`;
    });
    const before = await partnerSum(own.pg, env.dbName);
    const rowBefore = envRow(env.id);
    // An image the target cannot get (a registry on a closed loopback port): its create fails
    // before the env ever serves there. The old container keeps its own image.
    coordinator()
      .deps.db.update(environments)
      .set({ odooImage: "127.0.0.1:1/odooops-missing:1" })
      .where(eq(environments.id, env.id))
      .run();
    const out = await cli(["env", "move", env.slug, "--to", "mv-agent", "--wait"]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain(`create of ${env.slug} on mv-agent`);
    // The undo is shown, and the failure ends the output: no DNS advice after it.
    expect(out.stderr).toContain("↺ Placing the environment on the target host");
    expect(out.stderr.trimEnd()).toMatch(/\n {2}logs: odooops jobs logs \S+$/);
    coordinator()
      .deps.db.update(environments)
      .set({ odooImage: rowBefore.odooImage })
      .where(eq(environments.id, env.id))
      .run();

    // The row is as it was: placed on the coordinator, active, the same ports and container.
    const after = envRow(env.id);
    const pick = (e: Environment) => ({
      hostId: e.hostId,
      status: e.status,
      httpPort: e.httpPort,
      longpollPort: e.longpollPort,
      containerName: e.containerName,
      release: e.release,
    });
    expect(pick(after)).toEqual(pick(rowBefore));
    // Still serving the same rows on the old host.
    expect(await health(own.nginx, env)).toBe(200);
    expect(await partnerSum(own.pg, env.dbName)).toEqual(before);
    expect((await containers(env, own.prefix)).length).toBeGreaterThan(0);
    // Nothing on the target.
    expect(await containers(env, agentHost.prefix)).toEqual([]);
    expect(await databases(agentHost.pg, env)).toEqual([]);
    expect(existsSync(envResources(env, agentDeps()).dir)).toBe(false);
    expect(await health(agentHost.nginx, env)).toBe("closed");
  }, 900_000);
});
