/**
 * The host heartbeat riding the lease long-poll (issue #16: one connection per agent), against
 * the real coordinator app and state (in-process requests): the beat is recorded like one on
 * its own route, bad or foreign beats change nothing, the wait ends by the next beat's due time,
 * the old heartbeat route keeps working, and an agent whose beats all ride its leases stays online.
 * LeasePulse itself with an injected clock.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { z } from "zod";
import { CoordinatorClient } from "../../src/fleet/coordinator-client";
import { hostById, hostView, requestCredentialRotation } from "../../src/fleet/hosts";
import { hosts } from "../../src/fleet/fleet.sql";
import { LeasePulse } from "../../src/fleet/pulse";
import { Agent } from "../../src/jobs/agent";
import { defineJob, type StepContext, stepOutput, storingStep } from "../../src/jobs/define";
import { HttpJobChannel } from "../../src/jobs/http-channel";
import { JobRegistry } from "../../src/jobs/registry";
import { AGENT_INVENTORY, type JoinedHost, startCoordinatorApi } from "../support/fleet-api";

const HEARTBEAT_SEC = 1;
let api: Awaited<ReturnType<typeof startCoordinatorApi>>;
beforeAll(async () => {
  api = await startCoordinatorApi({ heartbeatSec: HEARTBEAT_SEC });
});
afterAll(() => api.t.cleanup());

const link = { url: "https://coordinator.test", fingerprint: "unused", certPem: "unused" };
const client = (credential: string) =>
  new CoordinatorClient(link, credential, (url, init) => Promise.resolve(api.agentApi.request(url, init)));
const containers = [{ name: "odooops-shop-web", state: "running", env: "shop" }];
const row = (h: JoinedHost) => hostById(api.t.deps.db, h.hostId)!;
/** An hour ago: a beat that lands shows as a newer time. */
const aged = (h: JoinedHost) =>
  api.t.deps.db
    .update(hosts)
    .set({ lastHeartbeatAt: new Date(Date.now() - 3_600_000).toISOString() })
    .where(eq(hosts.id, h.hostId))
    .run();

describe("a lease that carries the heartbeat", () => {
  test("records inventory, containers and the time like /heartbeat; the answer wraps both", async () => {
    const h = await api.join("beat-rec");
    aged(h);
    const before = Date.parse(row(h).lastHeartbeatAt!);
    const r = await api.agentCall(
      "/jobs/lease",
      {
        owner: `${h.hostId}:1`,
        leaseMs: 30_000,
        waitMs: 0,
        heartbeat: { inventory: { ...AGENT_INVENTORY, load: 2.75 }, containers },
      },
      h.credential,
    );
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ heartbeat: { heartbeatSec: HEARTBEAT_SEC }, lease: null });
    const after = row(h);
    expect(Date.parse(after.lastHeartbeatAt!)).toBeGreaterThan(before);
    expect(after.inventory?.load).toBe(2.75);
    expect(after.containers).toEqual(containers);
  });

  test("waits no longer than the heartbeat interval, whatever wait it asks for", async () => {
    const h = await api.join("beat-cap");
    // Asked for 60 s; the test's own timeout (15 s) fails it unless the coordinator ends the wait.
    const r = await api.agentCall(
      "/jobs/lease",
      {
        owner: `${h.hostId}:1`,
        leaseMs: 30_000,
        waitMs: 60_000,
        heartbeat: { inventory: AGENT_INVENTORY, containers },
      },
      h.credential,
    );
    expect(await r.json()).toEqual({ heartbeat: { heartbeatSec: HEARTBEAT_SEC }, lease: null });
  }, 15_000);

  test("tells the agent to rotate its credential, as /heartbeat does", async () => {
    const h = await api.join("beat-rot");
    requestCredentialRotation(api.t.deps.db, "beat-rot");
    const r = await api.agentCall(
      "/jobs/lease",
      { owner: `${h.hostId}:1`, leaseMs: 30_000, waitMs: 0, heartbeat: { inventory: AGENT_INVENTORY, containers } },
      h.credential,
    );
    expect(((await r.json()) as { heartbeat: unknown }).heartbeat).toEqual({
      heartbeatSec: HEARTBEAT_SEC,
      rotateCredential: true,
    });
  });

  test("a bad beat, a foreign owner or no credential: refused, nothing recorded, nothing leased", async () => {
    const h = await api.join("beat-bad");
    const other = await api.join("beat-other");
    aged(h);
    const before = row(h);
    const job = api.t.deps.jobs.queue.enqueue({
      kind: "noop",
      params: {},
      lockKey: "beat-bad",
      target: "beat-bad",
      steps: [],
      createdBy: "test",
      hostId: h.hostId,
    });
    const lease = (heartbeat: unknown, owner = `${h.hostId}:1`) => ({ owner, leaseMs: 30_000, waitMs: 0, heartbeat });
    const cases: [unknown, string, number][] = [
      [lease({ inventory: { ...AGENT_INVENTORY, cores: -1 }, containers }), h.credential, 400],
      [lease({ inventory: AGENT_INVENTORY, containers, extra: 1 }), h.credential, 400],
      [lease({ containers }), h.credential, 400],
      [lease({ inventory: AGENT_INVENTORY, containers }, `${other.hostId}:1`), h.credential, 403],
      [lease({ inventory: AGENT_INVENTORY, containers }), "", 401],
      [lease({ inventory: AGENT_INVENTORY, containers }), api.t.token, 401],
    ];
    for (const [body, credential, status] of cases) {
      const r = await api.agentCall("/jobs/lease", body, credential);
      expect(r.status).toBe(status);
      expect(((await r.json()) as { error: { message: string } }).error.message.length).toBeGreaterThan(0);
    }
    expect(row(h)).toMatchObject({ lastHeartbeatAt: before.lastHeartbeatAt, inventory: before.inventory });
    expect(api.t.deps.jobs.queue.row(job.id)).toMatchObject({ status: "queued", leaseOwner: null });
  });
});

describe("agents that predate beats on the lease", () => {
  test("/heartbeat still records the beat, and a lease without one answers as before", async () => {
    const h = await api.join("beat-old");
    aged(h);
    const before = Date.parse(row(h).lastHeartbeatAt!);
    const beat = await api.agentCall("/heartbeat", { inventory: AGENT_INVENTORY, containers }, h.credential);
    expect(await beat.json()).toEqual({ heartbeatSec: HEARTBEAT_SEC });
    expect(Date.parse(row(h).lastHeartbeatAt!)).toBeGreaterThan(before);
    const r = await api.agentCall("/jobs/lease", { owner: `${h.hostId}:1`, leaseMs: 30_000, waitMs: 0 }, h.credential);
    expect(await r.json()).toBeNull();
  });
});

describe("an agent whose beats all ride its leases", () => {
  test("stays online over many intervals, with no beat posted on its own, and still runs its jobs", async () => {
    const h = await api.join("beat-only-poll");
    const ran: string[] = [];
    const probe = defineJob<{ key: string }>({
      kind: "beat-probe",
      params: z.object({ key: z.string() }),
      lockKey: (p) => p.key,
      target: (p) => p.key,
      steps: [
        storingStep(stepOutput("one", z.object({})), {
          title: "one",
          async run(ctx: StepContext<{ key: string }>) {
            ran.push(ctx.params.key);
            return {};
          },
        }),
      ],
    });
    const c = client(h.credential);
    let runner: Agent | null = null;
    const pulse = new LeasePulse(() => runner?.poke());
    runner = new Agent({
      identity: { hostId: h.hostId, owner: `${h.hostId}:test` },
      channel: new HttpJobChannel(c, 20_000, null, null, null, pulse),
      registry: new JobRegistry([probe]),
      deps: api.t.deps,
      pollMs: 1_000,
    });
    let direct = 0;
    let carried = 0;
    let stopped = false;
    const intervalMs = HEARTBEAT_SEC * 1000;
    // The daemon's loop (src/daemon/agent.ts), reduced to its timing.
    const loop = (async () => {
      while (!stopped) {
        const startedAt = Date.now();
        await pulse
          .send({ inventory: AGENT_INVENTORY, containers }, intervalMs, () => {
            direct += 1;
            return c.post("/heartbeat", { inventory: AGENT_INVENTORY, containers });
          })
          .then(() => (carried += 1))
          .catch(() => undefined);
        const delay = Math.max(0, startedAt + intervalMs - Date.now());
        pulse.expect(Date.now() + delay);
        await Bun.sleep(delay);
      }
    })();
    runner.start();
    const statuses: string[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        await Bun.sleep(500);
        statuses.push(hostView(api.t.deps.db, "beat-only-poll", HEARTBEAT_SEC).status);
        if (i === 4)
          api.t.deps.jobs.queue.enqueue({
            kind: probe.kind,
            params: { key: "k1" },
            lockKey: "k1",
            target: "k1",
            steps: [{ name: "one", title: "one" }],
            createdBy: "test",
            hostId: h.hostId,
          });
      }
    } finally {
      stopped = true;
      pulse.cancel();
      await runner.stop(2_000);
      await loop;
    }
    // 5 s is five intervals; offline would be three without a beat.
    expect(statuses).toEqual(Array(10).fill("online"));
    expect(direct).toBe(0);
    expect(carried).toBeGreaterThanOrEqual(3);
    expect(ran).toEqual(["k1"]);
  }, 30_000);
});

describe("LeasePulse", () => {
  test("a lease takes the offered beat once; its answer resolves the send; the next wait is one interval", async () => {
    let now = 1_000_000;
    const offered: number[] = [];
    const pulse = new LeasePulse(
      () => offered.push(now),
      () => now,
    );
    pulse.expect(now + 4_000);
    expect(pulse.waitMs(20_000)).toBe(4_000);
    expect(pulse.waitMs(3_000)).toBe(3_000);
    expect(pulse.due()).toBe(false);
    expect(pulse.take()).toBeNull();
    const sent = pulse.send<unknown>({ b: 1 }, 10_000, () =>
      Promise.reject(new Error("must not be posted on its own")),
    );
    expect(offered).toEqual([now]);
    expect(pulse.due()).toBe(true);
    now += 500;
    const carried = pulse.take();
    expect(carried?.body).toEqual({ b: 1 });
    expect(pulse.take()).toBeNull();
    expect(pulse.due()).toBe(false);
    expect(pulse.waitMs(20_000)).toBe(10_000);
    carried?.answered({ heartbeatSec: 10 });
    expect(await sent).toEqual({ heartbeatSec: 10 });
    // Past the due time, a lease does not wait at all.
    now += 11_000;
    expect(pulse.waitMs(20_000)).toBe(0);
  });

  test("a carrying lease that fails fails the send", async () => {
    const pulse = new LeasePulse();
    const sent = pulse.send({}, 10_000, () => Promise.resolve("direct"));
    pulse.take()?.failed(new Error("coordinator unreachable"));
    await expect(sent).rejects.toThrow("coordinator unreachable");
  });

  test("no lease takes it (every job slot busy): posted on its own after half the interval", async () => {
    const pulse = new LeasePulse();
    let posted = 0;
    const answer = await pulse.send({}, 200, () => {
      posted += 1;
      return Promise.resolve({ heartbeatSec: 1 });
    });
    expect(answer).toEqual({ heartbeatSec: 1 });
    expect(posted).toBe(1);
    expect(pulse.take()).toBeNull();
  });

  test("cancel: the beat no lease took fails and is never posted", async () => {
    const pulse = new LeasePulse();
    let posted = 0;
    const sent = pulse.send({}, 200, () => {
      posted += 1;
      return Promise.resolve(posted);
    });
    pulse.cancel();
    await expect(sent).rejects.toThrow("stopping");
    await Bun.sleep(300);
    expect(posted).toBe(0);
    expect(pulse.take()).toBeNull();
  });
});

describe("HttpJobChannel with a pulse", () => {
  test("the lease carries the due beat with a wait bounded by the next beat, and hands back the lease", async () => {
    const h = await api.join("beat-chan");
    aged(h);
    const before = Date.parse(row(h).lastHeartbeatAt!);
    const sent: unknown[] = [];
    const transport = {
      post<T>(path: string, body: unknown, timeoutMs?: number): Promise<T> {
        sent.push(body);
        return client(h.credential).post<T>(path, body, timeoutMs);
      },
    };
    const pulse = new LeasePulse();
    const channel = new HttpJobChannel(transport, 20_000, null, null, null, pulse);
    const beat = pulse.send<unknown>({ inventory: AGENT_INVENTORY, containers }, 200, () =>
      Promise.reject(new Error("posted")),
    );
    expect(await channel.lease({ hostId: h.hostId, owner: `${h.hostId}:1` }, 30_000)).toBeNull();
    expect(await beat).toEqual({ heartbeatSec: HEARTBEAT_SEC });
    expect(sent[0]).toMatchObject({ heartbeat: { inventory: AGENT_INVENTORY, containers } });
    expect((sent[0] as { waitMs: number }).waitMs).toBeLessThanOrEqual(200);
    expect(Date.parse(row(h).lastHeartbeatAt!)).toBeGreaterThan(before);
  });
});
