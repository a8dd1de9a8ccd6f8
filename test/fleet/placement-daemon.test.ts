/**
 * Placement end to end on a real coordinator daemon (its HTTP API, agent API over HTTPS with the
 * pinned certificate, scheduler and local agent, in this process): two agents join and heartbeat
 * with their inventory over the agent API, the CLI creates an env by label over real HTTP, the env
 * and its job carry the agent's host id (the coordinator's own agent leaves the job alone), a
 * refusal changes nothing, and when an agent stops beating its queued job is failed by the
 * daemon's own scheduler once fleet.offlineJobTimeout has passed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { eq, sql } from "drizzle-orm";
import { resolvePaths } from "../../src/config/paths";
import { startDaemon } from "../../src/daemon/serve";
import { environments } from "../../src/env/env.sql";
import { CoordinatorClient, fetchPinnedCert } from "../../src/fleet/coordinator-client";
import { hosts } from "../../src/fleet/fleet.sql";
import { decodeJoinToken } from "../../src/fleet/join-token";
import { jobs } from "../../src/jobs/jobs.sql";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { writeHostConfig } from "../support/host-config";
import { runCliWith } from "../support/cli";
import { makeTempDir, removeTempDir } from "../support/tmp";

const prefix = testNamePrefix();
let root: string;
let coordinator: Awaited<ReturnType<typeof startDaemon>>;
let cliEnv: Record<string, string>;
let usBeat: ReturnType<typeof setInterval> | undefined;
const agents: Record<string, { hostId: string; client: CoordinatorClient }> = {};

const inventory = {
  cores: 8,
  memoryMb: 16_384,
  diskFreeMb: 500_000,
  load: 0.1,
  docker: "24.0.5",
  postgres: "15.4",
  nginx: "1.22.1",
  agentVersion: "0.1.0",
};

const cli = (argv: string[]) => runCliWith(argv, { fetch: (url, init) => fetch(url, init), env: cliEnv });
const db = () => coordinator.deps.db;
const counts = () => ({
  envs: db().select({ n: sql<number>`count(*)` }).from(environments).get()!.n,
  jobs: db().select({ n: sql<number>`count(*)` }).from(jobs).get()!.n,
});

/** An agent joins the way `serve --role agent` does: token from the user API, pinned certificate, /join, /heartbeat. */
async function joinAgent(name: string, labels: Record<string, string>) {
  const r = await fetch(`${coordinator.url}/api/v1/hosts/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${cliEnv.ODOOOPS_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name, labels, ttl: "5m" }),
  });
  expect(r.status).toBe(201);
  const { token } = (await r.json()) as { token: string };
  const parts = decodeJoinToken(token);
  const link = {
    url: parts.url,
    fingerprint: parts.fingerprint,
    certPem: await fetchPinnedCert(parts.url, parts.fingerprint),
  };
  const joined = await new CoordinatorClient(link, null).post<{ hostId: string; credential: string }>("/join", {
    token,
    name,
    inventory,
  });
  const client = new CoordinatorClient(link, joined.credential);
  await client.post("/heartbeat", { inventory, containers: [] });
  agents[name] = { hostId: joined.hostId, client };
}

async function waitFor<T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 120_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(200);
  }
}

beforeAll(async () => {
  root = makeTempDir("odooops-placement-");
  writeHostConfig(root, {
    role: "coordinator",
    fleet: { listen: "127.0.0.1:0", heartbeatSec: 1, offlineJobTimeout: "2s" },
    docker: { namePrefix: prefix },
  });
  coordinator = await startDaemon({
    root,
    listen: "127.0.0.1:0",
    env: { ...process.env, ODOOOPS_ADMIN_PASSWORD: "placement-test-password" },
  });
  cliEnv = {
    ODOOOPS_URL: coordinator.url,
    ODOOOPS_TOKEN: readFileSync(resolvePaths(root).localTokenFile, "utf8").trim(),
    ODOOOPS_ROOT: "/nonexistent",
  };
  await joinAgent("eu-agent", { region: "eu" });
  await joinAgent("us-agent", { region: "us" });
  // us-agent keeps beating through the whole file; eu-agent never beats again after the join.
  // A beat lost while the daemon stops is harmless: the last test checks us-agent's job before that.
  usBeat = setInterval(
    () => agents["us-agent"]!.client.post("/heartbeat", { inventory, containers: [] }).catch(() => undefined),
    300,
  );
});

afterAll(async () => {
  clearInterval(usBeat);
  await coordinator?.stop();
  await removeByNamePrefix(prefix);
  if (root) removeTempDir(root);
});

describe("placement on a real coordinator", () => {
  let shopJob: string;

  test("env create --label region=eu: the env and its job land on eu-agent, not on the coordinator", async () => {
    const r = await cli(["env", "create", "shop", "--tier", "dev", "--label", "region=eu"]);
    expect(r.stderr).toContain("creating shop (dev) on host eu-agent");
    expect(r.code).toBe(0);
    const env = db().select().from(environments).where(eq(environments.slug, "shop")).get()!;
    expect(env.hostId).toBe(agents["eu-agent"]!.hostId);
    const job = db().select().from(jobs).where(eq(jobs.lockKey, env.id)).get()!;
    expect(job.hostId).toBe(agents["eu-agent"]!.hostId);
    shopJob = job.id;
    // The coordinator's own agent was poked by the enqueue and polls on: it must not take it.
    await Bun.sleep(1500);
    expect(db().select().from(jobs).where(eq(jobs.id, job.id)).get()!.status).toBe("queued");

    const list = await cli(["env", "list"]);
    expect(list.stdout.split("\n")[0]).toBe("NAME  TIER  STATUS    HOST      BRANCH  URL");
    expect(list.stdout).toContain("shop  dev   creating  eu-agent  -");
    const host = await cli(["host", "get", "eu-agent"]);
    expect(host.stdout).toMatch(/envs\s+shop/);
  });

  test("a refusal names every host and changes nothing", async () => {
    const before = counts();
    const r = await cli(["env", "create", "other", "--tier", "dev", "--label", "region=ap"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("eu-agent: no label region=ap");
    expect(r.stderr).toContain("us-agent: no label region=ap");
    expect(counts()).toEqual(before);
    expect(db().select().from(environments).where(eq(environments.slug, "other")).get()).toBeUndefined();
  });

  test("eu-agent stops beating: --host refused at once, its queued job failed by the scheduler", async () => {
    const us = await cli(["env", "create", "us-shop", "--tier", "dev", "--label", "region=us"]);
    expect(us.code).toBe(0);
    const usEnv = db().select().from(environments).where(eq(environments.slug, "us-shop")).get()!;
    const usJob = db().select().from(jobs).where(eq(jobs.lockKey, usEnv.id)).get()!;

    const euRow = () => db().select().from(hosts).where(eq(hosts.id, agents["eu-agent"]!.hostId)).get()!;
    // Offline after three missed beats (3 s here).
    await waitFor("eu-agent offline", () => Date.now() - Date.parse(euRow().lastHeartbeatAt!) > 3_500);
    const before = counts();
    const refused = await cli(["env", "create", "late", "--tier", "dev", "--host", "eu-agent"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`eu-agent: offline since ${euRow().lastHeartbeatAt}`);
    expect(counts()).toEqual(before);

    // The daemon's scheduler looks every 30 s; the timeout is 2 s after going offline.
    const failed = await waitFor("the queued job to fail", () => {
      const j = coordinator.deps.jobs.queue.view(shopJob);
      return j.status === "failed" && j;
    });
    expect(failed.error).toBe(
      `host eu-agent has been offline since ${euRow().lastHeartbeatAt}; the job was not started`,
    );
    const shown = await cli(["jobs", "show", shopJob]);
    expect(shown.stdout).toContain(`status: failed\nerror: ${failed.error}\n`);
    // us-agent kept beating: its job still waits for it.
    expect(db().select().from(jobs).where(eq(jobs.id, usJob.id)).get()!.status).toBe("queued");
  });
});
