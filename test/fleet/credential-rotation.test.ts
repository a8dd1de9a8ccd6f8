/**
 * `odooops host rotate-credential`: a coordinator (in-process `startDaemon`) and a real agent
 * process (`bun src/main.ts serve`, role agent). The operator asks through the CLI; the agent is
 * told at its next heartbeat, fetches its new credential over its pinned HTTPS channel with the
 * old one, keeps it on disk and switches; from then on the old credential is refused, the agent
 * keeps heartbeating, and a restarted agent comes back with the new one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolvePaths } from "../../src/config/paths";
import { type AgentState, agentStateFile } from "../../src/daemon/agent-state";
import { CoordinatorClient } from "../../src/fleet/coordinator-client";
import { listHosts } from "../../src/fleet/hosts";
import { runCliWith } from "../support/cli";
import { oneAgentFleet } from "../support/fleet";
import { until } from "../support/wait";

const HEARTBEAT_SEC = 1;
const ADMIN_PASSWORD = "rotate-agent-password";

let agentRoot: string;
let adminToken: string;
const fleet = oneAgentFleet({ heartbeatSec: HEARTBEAT_SEC, adminPassword: ADMIN_PASSWORD, agentName: "agent-rot" });
const agents = fleet.agents;
let coordinator: ReturnType<typeof fleet.coordinator>;

beforeAll(async () => {
  await fleet.start();
  agentRoot = fleet.agentRoot();
  coordinator = fleet.coordinator();
  adminToken = (await fleet.coordinator().deps.auth.login("admin", ADMIN_PASSWORD)).token;
  await waitFor("the agent's state written", () => agentState());
}, 120_000);

afterAll(() => fleet.stop());

const startAgent = () => agents.start(agentRoot);

const host = () => agents.host("agent-rot");

function agentState(): AgentState | null {
  try {
    return JSON.parse(readFileSync(agentStateFile(resolvePaths(agentRoot)), "utf8")) as AgentState;
  } catch {
    return null;
  }
}

const waitFor = <T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 60_000) =>
  until(what, probe, timeoutMs);

/** A heartbeat over the agent's own pinned HTTPS channel with `credential`: its HTTP status. */
async function beatWith(credential: string): Promise<number> {
  const state = agentState()!;
  const inventory = host()!.inventory!;
  try {
    await new CoordinatorClient(state, credential).post("/heartbeat", { inventory, containers: [] });
    return 200;
  } catch (e) {
    return (e as { status?: number }).status ?? 0;
  }
}

const cli = (...argv: string[]) =>
  runCliWith(argv, {
    fetch: (url, init) => fetch(url, init),
    env: { ODOOOPS_URL: coordinator.url, ODOOOPS_TOKEN: adminToken, ODOOOPS_ROOT: "/nonexistent" },
  });

describe("host rotate-credential", () => {
  test("bad input: unknown host, not an agent, bad --timeout; nothing changes", async () => {
    const before = agentState()!.credential;
    const unknown = await cli("host", "rotate-credential", "nope");
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("no host nope");
    const own = listHosts(coordinator.deps.db, HEARTBEAT_SEC).find((h) => h.role !== "agent")!;
    const notAgent = await cli("host", "rotate-credential", own.name);
    expect(notAgent.code).not.toBe(0);
    expect(notAgent.stderr).toContain("is not an agent");
    const timeout = await cli("host", "rotate-credential", "agent-rot", "--wait", "--timeout", "soon");
    expect(timeout.code).not.toBe(0);
    expect(timeout.stderr).toContain("--timeout");
    expect(host()?.credentialRotationPending).toBe(false);
    expect(agentState()!.credential).toBe(before);
  });

  test("the agent switches over its own channel; the old credential is refused afterwards", async () => {
    const old = agentState()!.credential;
    expect(await beatWith(old)).toBe(200);
    const r = await cli("host", "rotate-credential", "agent-rot", "--wait");
    expect(r.stderr).toContain("agent-rot switched to a new credential");
    expect(r.code).toBe(0);
    const fresh = agentState()!.credential;
    expect(fresh).not.toBe(old);
    expect(fresh).toMatch(/^oda_/);
    expect(await beatWith(old)).toBe(401);
    expect(await beatWith(fresh)).toBe(200);
    const h = host()!;
    expect(h.credentialRotationPending).toBe(false);
    expect(h.credentialRotatedAt).not.toBeNull();
    // The agent itself goes on with the new credential.
    const seen = h.lastHeartbeatAt!;
    await waitFor("a later heartbeat", () => (host()!.lastHeartbeatAt ?? "") > seen);
    const audit = coordinator.deps.db.$client
      .query("SELECT action FROM audit_logs WHERE target = 'agent-rot' ORDER BY seq")
      .all() as { action: string }[];
    expect(audit.map((a) => a.action)).toEqual(
      expect.arrayContaining(["host.credential.rotate.request", "host.credential.rotate"]),
    );
  });

  test("a restarted agent comes back with the new credential from its state file", async () => {
    const fresh = agentState()!.credential;
    await agents.killAll();
    const killedAt = new Date().toISOString();
    startAgent();
    await waitFor("the restarted agent heartbeating", () => (host()!.lastHeartbeatAt ?? "") > killedAt);
    expect(agentState()!.credential).toBe(fresh);
    expect(host()!.status).toBe("online");
  });
});
