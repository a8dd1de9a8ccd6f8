/**
 * `odooops host rotate-credential`: a coordinator (in-process `startDaemon`) and a real agent
 * process (`bun src/main.ts serve`, role agent). The operator asks through the CLI; the agent is
 * told at its next heartbeat, fetches its new credential over its pinned HTTPS channel with the
 * old one, keeps it on disk and switches; from then on the old credential is refused, the agent
 * keeps heartbeating, and a restarted agent comes back with the new one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { SecretBox } from "../../src/auth/secretbox";
import { resolvePaths } from "../../src/config/paths";
import { type AgentState, agentStateFile } from "../../src/daemon/agent-state";
import { startDaemon } from "../../src/daemon/serve";
import { CoordinatorClient } from "../../src/fleet/coordinator-client";
import { listHosts } from "../../src/fleet/hosts";
import { decodeJoinToken } from "../../src/fleet/join-token";
import { writeJoin } from "../../src/init/join";
import { runCliWith } from "../support/cli";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { writeHostConfig } from "../support/host-config";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, removeTempDir } from "../support/tmp";

const HEARTBEAT_SEC = 1;
const MAIN = join(import.meta.dir, "../../src/main.ts");
const ADMIN_PASSWORD = "rotate-agent-password";

let coordinatorRoot: string;
let agentRoot: string;
let coordinator: Awaited<ReturnType<typeof startDaemon>>;
let pg: TestPostgres;
let adminToken: string;
const prefix = testNamePrefix();
const children: Subprocess[] = [];

beforeAll(async () => {
  coordinatorRoot = makeTempDir("odooops-rot-coord-");
  writeHostConfig(coordinatorRoot, {
    role: "coordinator",
    fleet: { listen: "127.0.0.1:0", heartbeatSec: HEARTBEAT_SEC },
    docker: { namePrefix: `${prefix}c` },
  });
  coordinator = await startDaemon({
    root: coordinatorRoot,
    listen: "127.0.0.1:0",
    env: { ...process.env, ODOOOPS_ADMIN_PASSWORD: ADMIN_PASSWORD },
  });
  adminToken = (await coordinator.deps.auth.login("admin", ADMIN_PASSWORD)).token;
  pg = await startPostgres({ dockerAccess: false });
  const token = coordinator.deps.fleet.createJoinToken({ name: "agent-rot" }).token;
  agentRoot = makeTempDir("odooops-rot-agent-");
  writeHostConfig(agentRoot, {
    role: "agent",
    postgres: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, hbaFile: pg.hbaFile },
    docker: { namePrefix: prefix },
    fleet: { heartbeatSec: HEARTBEAT_SEC },
  });
  const paths = resolvePaths(agentRoot);
  writeJoin(paths, { url: decodeJoinToken(token).url, token }, SecretBox.fromFile(paths.secretKeyFile));
  startAgent();
  await waitFor("the agent online with its state written", () => host()?.status === "online" && agentState());
}, 120_000);

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await Promise.all(children.map((c) => c.exited));
  await coordinator?.stop();
  await removeByNamePrefix(prefix);
  await pg?.stop();
  for (const r of [coordinatorRoot, agentRoot]) if (r) removeTempDir(r);
});

function startAgent(): Subprocess {
  const proc = Bun.spawn(["bun", MAIN, "serve"], {
    env: { ...process.env, ODOOOPS_ROOT: agentRoot },
    stdout: "ignore",
    stderr: "ignore",
  });
  children.push(proc);
  return proc;
}

const host = () => listHosts(coordinator.deps.db, HEARTBEAT_SEC).find((h) => h.name === "agent-rot");

function agentState(): AgentState | null {
  try {
    return JSON.parse(readFileSync(agentStateFile(resolvePaths(agentRoot)), "utf8")) as AgentState;
  } catch {
    return null;
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

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
    for (const c of children.splice(0)) {
      c.kill("SIGKILL");
      await c.exited;
    }
    const killedAt = new Date().toISOString();
    startAgent();
    await waitFor("the restarted agent heartbeating", () => (host()!.lastHeartbeatAt ?? "") > killedAt);
    expect(agentState()!.credential).toBe(fresh);
    expect(host()!.status).toBe("online");
  });
});
