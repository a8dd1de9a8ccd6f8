/**
 * Logs of an env on an agent, relayed by the coordinator (src/fleet/log-relay.ts): the user API's
 * logs route and the agent API in-process (real state, real auth), the agent played by the test.
 * The real agent streaming real `docker logs` is in test/fleet/agent-runs-env.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { projects } from "../../src/env/env.sql";
import { hosts } from "../../src/fleet/fleet.sql";
import { LogRelay } from "../../src/fleet/log-relay";
import { eq } from "drizzle-orm";
import { type CoordinatorApi, insertEnv, startCoordinatorApi } from "../support/fleet-api";

let t: CoordinatorApi["t"];
let agentCall: CoordinatorApi["agentCall"];
let join: CoordinatorApi["join"];

beforeAll(async () => {
  ({ t, agentCall, join } = await startCoordinatorApi({ heartbeatSec: 5 }));
});
afterAll(() => t.cleanup());

function envOn(hostId: string, name: string) {
  const project = t.deps.db
    .insert(projects)
    .values({ name: `p-${name}` })
    .returning()
    .get();
  insertEnv(t.deps.db, project.id, name, hostId, { containerName: `odooops-${name}-r1` });
}

/** The agent's lease long-poll: what the coordinator hands this host next. */
async function lease(a: { hostId: string; credential: string }, waitMs = 5_000) {
  const r = await agentCall("/jobs/lease", { owner: `${a.hostId}:test`, leaseMs: 30_000, waitMs }, a.credential);
  expect(r.status).toBe(200);
  return (await r.json()) as { stream?: { id: string; container: string; tail: number; follow: boolean } } | null;
}

describe("logs of an env on an agent", () => {
  let a: { hostId: string; credential: string };
  let b: { hostId: string; credential: string };

  beforeAll(async () => {
    a = await join("logs-a");
    b = await join("logs-b");
    envOn(a.hostId, "shop-logs");
  });

  test("the reader's request wakes the agent's lease long-poll; chunks arrive in order; the agent's end ends the response", async () => {
    const waiting = lease(a, 20_000);
    const res = await t.request("/api/v1/environments/shop-logs/logs?tail=10");
    expect(res.status).toBe(200);
    const { stream } = (await waiting)!;
    expect(stream).toEqual({ id: expect.any(String), container: "odooops-shop-logs-r1", tail: 10, follow: false });
    // Another agent can neither write into it nor learn it exists.
    expect(await (await agentCall(`/streams/${stream!.id}`, { text: "forged\n" }, b.credential)).json()).toEqual({
      open: false,
    });
    expect(await (await agentCall(`/streams/${stream!.id}`, { text: "one\n" }, a.credential)).json()).toEqual({
      open: true,
    });
    expect(
      await (await agentCall(`/streams/${stream!.id}`, { text: "two\n", end: true }, a.credential)).json(),
    ).toEqual({ open: false });
    expect(await res.text()).toBe("one\ntwo\n");
    expect(t.deps.fleet.logs.size).toBe(0);
  });

  test("-f: when the reader goes away the agent's next chunk is told to stop", async () => {
    const reader = new AbortController();
    const res = await t.request("/api/v1/environments/shop-logs/logs?follow=true&tail=0", { signal: reader.signal });
    const { stream } = (await lease(a))!;
    expect(stream?.follow).toBe(true);
    const body = res.body!.getReader();
    expect((await agentCall(`/streams/${stream!.id}`, { text: "live\n" }, a.credential)).status).toBe(200);
    expect(new TextDecoder().decode((await body.read()).value)).toBe("live\n");
    reader.abort();
    await body.cancel().catch(() => undefined);
    for (let i = 0; t.deps.fleet.logs.size > 0; i++) {
      expect(i).toBeLessThan(500);
      await Bun.sleep(10);
    }
    expect(await (await agentCall(`/streams/${stream!.id}`, { text: "late\n" }, a.credential)).json()).toEqual({
      open: false,
    });
  });

  test("an offline host is refused at once with the reason; nothing waits", async () => {
    t.deps.db
      .update(hosts)
      .set({ lastHeartbeatAt: new Date(Date.now() - 3_600_000).toISOString() })
      .where(eq(hosts.id, a.hostId))
      .run();
    const res = await t.request("/api/v1/environments/shop-logs/logs");
    expect(res.status).toBe(503);
    expect(JSON.stringify(await res.json())).toContain("host logs-a is offline");
    expect(t.deps.fleet.logs.size).toBe(0);
  });

  test("bad chunks are refused (400) and the stream is untouched", async () => {
    const r = await agentCall("/streams/x", { text: 5 }, a.credential);
    expect(r.status).toBe(400);
    expect((await agentCall("/streams/x", { text: "x" }, "wrong")).status).toBe(401);
  });
});

describe("LogRelay", () => {
  test("a request no agent picks up ends with the reason; a taken stream that goes silent ends too", async () => {
    const relay = new LogRelay(30, 30);
    const out: string[] = [];
    const sink = { write: (s: string) => void out.push(s), onAbort: () => undefined };
    await relay.read("h1", { container: "c1", tail: 0, follow: true }, sink);
    expect(out).toEqual(["[odooops] the host did not pick up the log request within 0.03 s\n"]);
    expect(relay.take("h1")).toBeNull();

    out.length = 0;
    const reading = relay.read("h1", { container: "c1", tail: 0, follow: true }, sink);
    const req = relay.take("h1")!;
    expect(relay.push("h1", req.id, { text: "a\n", end: false })).toBe(true);
    await reading;
    expect(out).toEqual(["a\n", "[odooops] the host stopped sending the log\n"]);
    expect(relay.size).toBe(0);
  });

  test("a container name that could be a flag or a path is refused before any agent sees it", () => {
    const relay = new LogRelay();
    const sink = { write: () => undefined, close: () => undefined };
    for (const container of ["--help", "../x", "a b", ""])
      expect(() => relay.open("h1", { container, tail: 0, follow: false }, sink)).toThrow();
    expect(relay.take("h1")).toBeNull();
  });
});
