/**
 * A coordinator (in-process `startDaemon`, role coordinator) and real agent processes
 * (`bun src/main.ts serve`, role agent) on this machine, each with its own root; the agent has its
 * own PostgreSQL cluster and docker name prefix. Join with a token (pinned certificate), heartbeat
 * with inventory and containers, kill -9 → offline since, restart → online without a new token;
 * reused, expired and wrongly pinned tokens refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { eq } from "drizzle-orm";
import { SecretBox } from "../../src/auth/secretbox";
import { resolvePaths } from "../../src/config/paths";
import { startDaemon } from "../../src/daemon/serve";
import { agentStateFile } from "../../src/daemon/agent-state";
import { joinTokens } from "../../src/fleet/fleet.sql";
import { listHosts } from "../../src/fleet/hosts";
import { decodeJoinToken, encodeJoinToken } from "../../src/fleet/join-token";
import { checkCoordinator, joinFile, writeJoin } from "../../src/init/join";
import { run } from "../../src/exec/run";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { STANDIN_IMAGE, writeHostConfig } from "../support/host-config";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, removeTempDir } from "../support/tmp";

const HEARTBEAT_SEC = 1;
const MAIN = join(import.meta.dir, "../../src/main.ts");

let coordinatorRoot: string;
let coordinator: Awaited<ReturnType<typeof startDaemon>>;
let pg: TestPostgres;
const prefix = testNamePrefix();
const roots: string[] = [];
const children: Subprocess[] = [];

beforeAll(async () => {
  coordinatorRoot = makeTempDir("odooops-coord-");
  writeHostConfig(coordinatorRoot, {
    role: "coordinator",
    fleet: { listen: "127.0.0.1:0", heartbeatSec: HEARTBEAT_SEC },
    docker: { namePrefix: `${prefix}c` },
  });
  coordinator = await startDaemon({
    root: coordinatorRoot,
    listen: "127.0.0.1:0",
    env: { ...process.env, ODOOOPS_ADMIN_PASSWORD: "fleet-test-password" },
  });
  pg = await startPostgres({ dockerAccess: false });
});

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await Promise.all(children.map((c) => c.exited));
  await coordinator?.stop();
  await removeByNamePrefix(prefix);
  await pg?.stop();
  for (const r of [coordinatorRoot, ...roots]) if (r) removeTempDir(r);
});

/** An agent root with its config and a join file holding `token`. */
function agentRoot(token: string): string {
  const root = makeTempDir("odooops-agent-");
  roots.push(root);
  writeHostConfig(root, {
    role: "agent",
    postgres: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, hbaFile: pg.hbaFile },
    docker: { namePrefix: prefix },
    fleet: { heartbeatSec: HEARTBEAT_SEC },
  });
  const paths = resolvePaths(root);
  writeJoin(paths, { url: decodeJoinToken(token).url, token }, SecretBox.fromFile(paths.secretKeyFile));
  return root;
}

function startAgent(root: string): { proc: Subprocess; stderr: () => Promise<string> } {
  const proc = Bun.spawn(["bun", MAIN, "serve"], {
    env: { ...process.env, ODOOOPS_ROOT: root },
    stdout: "ignore",
    stderr: "pipe",
  });
  children.push(proc);
  return { proc, stderr: () => new Response(proc.stderr as ReadableStream).text() };
}

async function waitFor<T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 90_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

const host = (name: string) => listHosts(coordinator.deps.db, HEARTBEAT_SEC).find((h) => h.name === name);

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
    const h = await waitFor("agent-1 online with an inventory", () => {
      const v = host("agent-1");
      return v?.status === "online" && v.inventory ? v : null;
    });
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
