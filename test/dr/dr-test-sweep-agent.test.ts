/**
 * The agent daemon's own start sweep: a real agent process (`bun src/main.ts serve`, role agent)
 * is killed with kill -9; what a DR test of another host's env left on its host (scratch role and
 * database, scratch dir, the env dir, the test's container and network, named as the job names
 * them) is gone once the restarted agent heartbeats again. A container of a real env, and a
 * look-alike odooops did not label, stay.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolvePaths } from "../../src/config/paths";
import { ConfigSchema } from "../../src/config/schema";
import { SCRATCH_DIR_PREFIX, SCRATCH_PREFIX, scratchTag } from "../../src/db/copies/names";
import { drTestContainer, drTestNetwork } from "../../src/dr/dr-test-job";
import { envLabels, envResources } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { bareAgentConfig, oneAgentFleet } from "../support/fleet";
import { STANDIN_IMAGE } from "../support/host-config";
import type { TestPostgres } from "../support/postgres";
import { randomSuffix } from "../support/tmp";
import { until } from "../support/wait";

const HEARTBEAT_SEC = 1;
const ADMIN_PASSWORD = "dr-sweep-agent-password";

const fleet = oneAgentFleet({ heartbeatSec: HEARTBEAT_SEC, adminPassword: ADMIN_PASSWORD, agentName: "agent-drs" });
const prefix = fleet.namePrefix;
const agents = fleet.agents;
let agentRoot: string;
let pg: TestPostgres;

beforeAll(async () => {
  await fleet.start();
  agentRoot = fleet.agentRoot();
  pg = fleet.pg();
}, 120_000);

afterAll(() => fleet.stop());

const docker = async (...argv: string[]) =>
  (await run({ argv: ["docker", ...argv] })).stdout.split("\n").filter(Boolean);

const labelArgs = (labels: Record<string, string>) =>
  Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);

describe("the agent daemon's start sweep", () => {
  test("kill -9, DR test leftovers of another host's env planted as the job names them, restart: all gone, the rest stays", async () => {
    await agents.killAll();
    const killedAt = new Date().toISOString();
    const deps = {
      config: ConfigSchema.parse(bareAgentConfig(pg, prefix, HEARTBEAT_SEC)),
      paths: resolvePaths(agentRoot),
    };
    // Another host's env: this agent has no row of it, only a killed job's params named it.
    const foreign = { id: Bun.randomUUIDv7(), slug: `drf-${randomSuffix(6)}`, domain: "drf.elsewhere.test" };
    const copy = `${SCRATCH_PREFIX}${scratchTag("dr-test", Bun.randomUUIDv7())}`;
    await pg.query("postgres", async (sql) => {
      await sql.unsafe(`CREATE ROLE ${copy} LOGIN PASSWORD 'x'`);
      await sql.unsafe(`CREATE DATABASE ${copy} OWNER ${copy}`);
    });
    const envDir = envResources(foreign, deps).dir;
    const scratchDir = join(envDir, `${SCRATCH_DIR_PREFIX}${copy.slice(SCRATCH_PREFIX.length)}`);
    mkdirSync(join(scratchDir, "data"), { recursive: true });
    writeFileSync(join(scratchDir, "odoo.conf"), "[options]\n");
    const network = drTestNetwork(foreign, deps);
    const container = drTestContainer(foreign, deps);
    await docker("network", "create", ...labelArgs(envLabels(foreign, "network")), network);
    const sleeper = (name: string, labels: Record<string, string>, net?: string) =>
      docker(
        "run",
        "-d",
        "--name",
        name,
        ...labelArgs(labels),
        ...(net ? ["--network", net] : []),
        "--entrypoint",
        "sleep",
        STANDIN_IMAGE,
        "600",
      );
    await sleeper(container, envLabels(foreign, "init"), network);
    // A real env of this host, and a look-alike of a DR test's container without odooops' labels.
    const shop = { id: Bun.randomUUIDv7(), slug: `shop-${randomSuffix(4)}`, domain: "shop.test" };
    const real = envResources(shop, deps).webContainer(1);
    await sleeper(real, envLabels(shop, "web"));
    const decoy = `${prefix}-${randomSuffix(6)}-init-drtest`;
    await sleeper(decoy, {});

    const proc = agents.start(agentRoot, "pipe");
    // Read as it comes (a full pipe would block the agent); shown when the agent does not come back.
    let log = "";
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.stderr as ReadableStream<Uint8Array>)
        log += decoder.decode(chunk, { stream: true });
    })();
    // The sweep runs before the agent's first heartbeat: once it beats again, the sweep is done.
    await until(
      "the restarted agent heartbeating",
      () => (agents.host("agent-drs")?.lastHeartbeatAt ?? "") > killedAt,
      90_000,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; the agent's log:\n${log}`);
    });

    const names = await docker("ps", "-a", "--format", "{{.Names}}", "--filter", `name=^${prefix}-`);
    expect(names.sort()).toEqual([decoy, real].sort());
    expect(await docker("network", "ls", "--format", "{{.Name}}", "--filter", `name=^${network}$`)).toEqual([]);
    const left = await pg.query("postgres", async (sql) => {
      const dbs = await sql<{ n: string }[]>`SELECT datname AS n FROM pg_database WHERE datname = ${copy}`;
      const roles = await sql<{ n: string }[]>`SELECT rolname AS n FROM pg_roles WHERE rolname = ${copy}`;
      return [...dbs, ...roles].map((r) => r.n);
    });
    expect(left).toEqual([]);
    expect(existsSync(envDir)).toBe(false);
  }, 240_000);
});
