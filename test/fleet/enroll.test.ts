/**
 * A coordinator (in-process `startDaemon`, role coordinator) and real agent processes
 * (`bun src/main.ts serve`, role agent) on this machine, each with its own root; the agent has its
 * own PostgreSQL cluster and docker name prefix. Join with a token (pinned certificate), heartbeat
 * with inventory and containers, kill -9 → offline since, restart → online without a new token;
 * reused, expired and wrongly pinned tokens refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { eq } from "drizzle-orm";
import { resolvePaths } from "../../src/config/paths";
import { agentStateFile } from "../../src/daemon/agent-state";
import { joinTokens } from "../../src/fleet/fleet.sql";
import { listHosts } from "../../src/fleet/hosts";
import { decodeJoinToken, encodeJoinToken } from "../../src/fleet/join-token";
import { checkCoordinator, joinFile } from "../../src/init/join";
import { run } from "../../src/exec/run";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { agentProcesses, bareAgentConfig, startBareCoordinator } from "../support/fleet";
import { STANDIN_IMAGE } from "../support/host-config";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { until } from "../support/wait";

const HEARTBEAT_SEC = 1;

let coordinatorRoot: string;
let coordinator: Awaited<ReturnType<typeof startBareCoordinator>>["daemon"];
let pg: TestPostgres;
const prefix = testNamePrefix();
const roots: string[] = [];
const agents = agentProcesses(() => coordinator, HEARTBEAT_SEC);

beforeAll(async () => {
  ({ root: coordinatorRoot, daemon: coordinator } = await startBareCoordinator({
    namePrefix: prefix,
    heartbeatSec: HEARTBEAT_SEC,
    adminPassword: "fleet-test-password",
  }));
  pg = await startPostgres({ dockerAccess: false });
});

afterAll(async () => {
  await agents.killAll();
  await coordinator?.stop();
  await removeByNamePrefix(prefix);
  await pg?.stop();
  for (const r of [coordinatorRoot, ...roots]) if (r) removeTempDir(r);
});

/** An agent root with its config and a join file holding `token`. */
function agentRoot(token: string): string {
  const root = makeTempDir("odooops-agent-");
  roots.push(root);
  agents.join(root, bareAgentConfig(pg, prefix, HEARTBEAT_SEC), token);
  return root;
}

function startAgent(root: string) {
  const proc = agents.start(root, "pipe");
  return { proc, stderr: () => new Response(proc.stderr as ReadableStream).text() };
}

const waitFor = <T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 90_000) =>
  until(what, probe, timeoutMs);

const host = agents.host;

describe("init --role agent checks the coordinator the token names", () => {
  test("reachable with the pinned certificate; another URL or another pin is refused", async () => {
    const t = coordinator.deps.fleet.createJoinToken({ name: "agent-check" });
    await checkCoordinator(t.joinUrl, t.token);
    await expect(checkCoordinator("https://127.0.0.1:1", t.token)).rejects.toThrow(/not the coordinator this token/);
    const forged = encodeJoinToken({ ...decodeJoinToken(t.token), fingerprint: Array(32).fill("AB").join(":") });
    await expect(checkCoordinator(t.joinUrl, forged)).rejects.toThrow(/not the pinned/);
  });
});

describe("enrollment and heartbeat", () => {
  let root: string;
  let agent: ReturnType<typeof startAgent>;
  let token: string;

  test("the agent joins with the token, keeps its credential 0600, and the join file is gone", async () => {
    token = coordinator.deps.fleet.createJoinToken({ name: "agent-1", labels: { region: "eu" } }).token;
    root = agentRoot(token);
    agent = startAgent(root);
    const h = await agents.firstHeartbeat("agent-1");
    expect(h.role).toBe("agent");
    expect(h.labels).toEqual({ region: "eu" });
    const paths = resolvePaths(root);
    // The coordinator records the host at join, a moment before the agent writes its state.
    await waitFor(
      "the state file written, the join file removed",
      () => existsSync(agentStateFile(paths)) && !existsSync(joinFile(paths)),
    );
    expect(statSync(agentStateFile(paths)).mode & 0o777).toBe(0o600);
    expect(existsSync(joinFile(paths))).toBe(false);
  });

  test("inventory: cores, memory, disk, load and the real versions of docker, PostgreSQL and nginx", async () => {
    const h = await waitFor("inventory", () => host("agent-1"));
    const inv = h.inventory;
    expect(inv?.cores).toBeGreaterThan(0);
    expect(inv?.memoryMb).toBeGreaterThan(0);
    expect(inv?.diskFreeMb).toBeGreaterThan(0);
    const pgVersion = (await run({ argv: ["psql", "--version"] })).stdout.match(/(\d+)\.\d+/)?.[1];
    expect(inv?.postgres?.split(".")[0]).toBe(pgVersion);
    expect(inv?.docker).toMatch(/^\d+\.\d+/);
    expect(inv?.nginx).toMatch(/^\d+\.\d+/);
    expect(h.agentVersion).toBe(inv?.agentVersion ?? "missing");
  });

  test("the actual state of its containers (its own prefix, odooops-labelled only)", async () => {
    const name = `${prefix}-probe-r1`;
    await run({
      argv: [
        "docker",
        "create",
        "--name",
        name,
        "--label",
        "odooops.managed=true",
        "--label",
        "odooops.env=probe-env",
        "--entrypoint",
        "odoo",
        STANDIN_IMAGE,
        "--version",
      ],
    });
    const h = await waitFor("the container reported", () =>
      host("agent-1")?.containers.find((c) => c.name === name) ? host("agent-1") : null,
    );
    expect(h.containers).toEqual([{ name, state: "created", env: "probe-env" }]);
  });

  test("the used token is refused to a second agent (it exits, nothing joins)", async () => {
    const second = startAgent(agentRoot(token));
    expect(await second.proc.exited).not.toBe(0);
    expect(await second.stderr()).toContain("already used");
    expect(listHosts(coordinator.deps.db, HEARTBEAT_SEC).filter((h) => h.role === "agent")).toHaveLength(1);
  });

  test("an expired token is refused", async () => {
    const t = coordinator.deps.fleet.createJoinToken({ name: "agent-late" });
    coordinator.deps.db
      .update(joinTokens)
      .set({ expiresAt: new Date(Date.now() - 1000).toISOString() })
      .where(eq(joinTokens.id, t.id))
      .run();
    const late = startAgent(agentRoot(t.token));
    expect(await late.proc.exited).not.toBe(0);
    expect(await late.stderr()).toContain("expired");
    expect(host("agent-late")).toBeUndefined();
  });

  test("a token pinning another certificate: the agent refuses the coordinator and sends nothing", async () => {
    const t = coordinator.deps.fleet.createJoinToken({ name: "agent-mitm" });
    const parts = decodeJoinToken(t.token);
    const forged = encodeJoinToken({ ...parts, fingerprint: Array(32).fill("AA").join(":") });
    const a = startAgent(agentRoot(forged));
    expect(await a.proc.exited).not.toBe(0);
    expect(await a.stderr()).toContain("not the pinned");
    const row = coordinator.deps.db.select().from(joinTokens).where(eq(joinTokens.id, t.id)).get();
    expect(row?.usedAt).toBeNull();
  });

  test("kill -9 of the agent: offline since its last heartbeat; restarted, online again without a token", async () => {
    agent.proc.kill("SIGKILL");
    await agent.proc.exited;
    const off = await waitFor("agent-1 offline", () =>
      host("agent-1")?.status === "offline" ? host("agent-1") : null,
    );
    expect(off.offlineSince).toBe(off.lastHeartbeatAt);
    agent = startAgent(root);
    await waitFor("agent-1 online again", () => host("agent-1")?.status === "online");
    expect(listHosts(coordinator.deps.db, HEARTBEAT_SEC).filter((h) => h.name.startsWith("agent-1"))).toHaveLength(1);
  });
});
