/** Hosts and join tokens through the user API, and the agent API, in-process (real state, real auth). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { environments, projects } from "../../src/env/env.sql";
import { hosts } from "../../src/fleet/fleet.sql";
import { jobs } from "../../src/jobs/jobs.sql";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";
import { AGENT_INVENTORY as inventory, COORDINATOR_FINGERPRINT, startCoordinatorApi } from "../support/fleet-api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
let agentCall: Awaited<ReturnType<typeof startCoordinatorApi>>["agentCall"];
let memberToken: string;

beforeAll(async () => {
  ({ t, agentCall } = await startCoordinatorApi({ heartbeatSec: 1 }));
  await t.deps.auth.createUser("mia", "member-password-1", "member");
  memberToken = (await t.deps.auth.login("mia", "member-password-1")).token;
});
afterAll(() => t.cleanup());

async function newToken(body: Record<string, unknown> = {}): Promise<string> {
  const r = await t.request("/api/v1/hosts/tokens", { method: "POST", body: JSON.stringify(body) });
  expect(r.status).toBe(201);
  return ((await r.json()) as { token: string }).token;
}

async function join(name: string, token?: string) {
  const r = await agentCall("/join", { token: token ?? (await newToken({ name })), name: "ignored", inventory });
  expect(r.status).toBe(201);
  return (await r.json()) as { hostId: string; name: string; credential: string; heartbeatSec: number };
}

describe("join tokens", () => {
  test("admins only; the answer carries URL, pin and expiry; audited", async () => {
    const denied = await t.request("/api/v1/hosts/tokens", { method: "POST", body: "{}", token: memberToken });
    expect(denied.status).toBe(403);
    const r = await t.request("/api/v1/hosts/tokens", {
      method: "POST",
      body: JSON.stringify({ ttl: "5m", name: "eu-1", labels: { region: "eu" } }),
    });
    expect(r.status).toBe(201);
    const body = (await r.json()) as { token: string; joinUrl: string; fingerprint: string; expiresAt: string };
    expect(body.joinUrl).toBe("https://127.0.0.1:8421");
    expect(body.fingerprint).toBe(COORDINATOR_FINGERPRINT);
    const audit = await t.request("/api/v1/audit/logs?action=host.token.create");
    expect(JSON.stringify(await audit.json())).toContain("host.token.create");
    expect(JSON.stringify(await (await t.request("/api/v1/audit/logs")).json())).not.toContain(body.token);
  });

  test("bad ttl or labels: 400, nothing created", async () => {
    for (const bad of [{ ttl: "1d" }, { labels: { "Bad Key": "x" } }, { name: "-x" }]) {
      const r = await t.request("/api/v1/hosts/tokens", { method: "POST", body: JSON.stringify(bad) });
      expect(r.status).toBe(400);
    }
  });
});

describe("agent API", () => {
  test("join spends the token once; the host is online with its inventory and the token's labels", async () => {
    const token = await newToken({ name: "agent-a", labels: { region: "eu" } });
    const j = await join("agent-a", token);
    expect(j.name).toBe("agent-a");
    expect(j.credential.startsWith("oda_")).toBe(true);
    expect(j.heartbeatSec).toBe(1);
    const again = await agentCall("/join", { token, name: "agent-b", inventory });
    expect(again.status).toBe(401);
    expect(JSON.stringify(await again.json())).toContain("already used");
    const row = t.deps.db.select().from(hosts).where(eq(hosts.id, j.hostId)).get();
    expect(row?.credentialHash).not.toContain(j.credential);
    const h = (await (await t.request("/api/v1/hosts/agent-a")).json()) as Record<string, unknown>;
    expect(h).toMatchObject({ status: "online", role: "agent", labels: { region: "eu" }, agentVersion: "0.1.0" });
    expect(h.inventory).toEqual(inventory);
  });

  test("a join refused for a taken name leaves the token usable", async () => {
    await join("agent-dup");
    const token = await newToken({ name: "agent-dup" });
    const r = await agentCall("/join", { token, name: "x", inventory });
    expect(r.status).toBe(409);
    t.deps.db.update(hosts).set({ name: "agent-dup-old" }).where(eq(hosts.name, "agent-dup")).run();
    expect((await agentCall("/join", { token, name: "x", inventory })).status).toBe(201);
  });

  test("heartbeat records inventory and containers; bad bodies are refused and change nothing", async () => {
    const j = await join("agent-hb");
    const containers = [{ name: "odooops-shop-r1", state: "running", env: "0192-env" }];
    const r = await agentCall("/heartbeat", { inventory: { ...inventory, load: 3.25 }, containers }, j.credential);
    expect(r.status).toBe(200);
    const h = (await (await t.request("/api/v1/hosts/agent-hb")).json()) as Record<string, unknown>;
    expect(h).toMatchObject({ containers, inventory: { load: 3.25 } });
    for (const bad of [{ inventory: { ...inventory, cores: -1 }, containers: [] }, { inventory }, "x"]) {
      expect((await agentCall("/heartbeat", bad, j.credential)).status).toBe(400);
    }
    const after = (await (await t.request("/api/v1/hosts/agent-hb")).json()) as Record<string, unknown>;
    expect(after).toMatchObject({ inventory: { load: 3.25, cores: 4 } });
  });

  test("an agent credential can do nothing on the user API; a user token nothing on the agent API", async () => {
    const j = await join("agent-auth");
    for (const path of ["/api/v1/hosts", "/api/v1/environments", "/api/v1/auth/whoami", "/api/v1/jobs"]) {
      expect((await t.request(path, { token: j.credential })).status).toBe(401);
    }
    const post = await t.request("/api/v1/hosts/tokens", { method: "POST", body: "{}", token: j.credential });
    expect(post.status).toBe(401);
    expect((await agentCall("/heartbeat", { inventory, containers: [] }, t.token)).status).toBe(401);
    expect((await agentCall("/heartbeat", { inventory, containers: [] })).status).toBe(401);
    expect((await agentCall("/credential", {}, t.token)).status).toBe(401);
  });

  test("rotation: the old credential works until the new one is used, then it is refused", async () => {
    const j = await join("agent-rot");
    const r = await agentCall("/credential", {}, j.credential);
    expect(r.status).toBe(200);
    const { credential } = (await r.json()) as { credential: string };
    expect(credential).not.toBe(j.credential);
    // The answer may have been lost on the way: the agent is not locked out.
    expect((await agentCall("/heartbeat", { inventory, containers: [] }, j.credential)).status).toBe(200);
    expect((await agentCall("/heartbeat", { inventory, containers: [] }, credential)).status).toBe(200);
    expect((await agentCall("/heartbeat", { inventory, containers: [] }, j.credential)).status).toBe(401);
    expect((await agentCall("/heartbeat", { inventory, containers: [] }, credential)).status).toBe(200);
  });

  test("an operator's rotation: admins only, agents only, told at the next heartbeat", async () => {
    const j = await join("agent-oprot");
    const path = "/api/v1/hosts/agent-oprot/credential/rotate";
    expect((await t.request(path, { method: "POST", token: memberToken })).status).toBe(403);
    expect((await t.request("/api/v1/hosts/nope/credential/rotate", { method: "POST" })).status).toBe(404);
    const beat = async (cred: string) =>
      (await (await agentCall("/heartbeat", { inventory, containers: [] }, cred)).json()) as {
        rotateCredential?: boolean;
      };
    expect((await beat(j.credential)).rotateCredential).toBeUndefined();
    const r = await t.request(path, { method: "POST" });
    expect(r.status).toBe(202);
    expect(((await r.json()) as { credentialRotationPending: boolean }).credentialRotationPending).toBe(true);
    expect((await beat(j.credential)).rotateCredential).toBe(true);
    const { credential } = (await (await agentCall("/credential", {}, j.credential)).json()) as { credential: string };
    expect((await beat(credential)).rotateCredential).toBeUndefined();
    const h = (await (await t.request("/api/v1/hosts/agent-oprot")).json()) as {
      credentialRotationPending: boolean;
      credentialRotatedAt: string | null;
    };
    expect(h.credentialRotationPending).toBe(false);
    expect(h.credentialRotatedAt).not.toBeNull();
    expect((await agentCall("/heartbeat", { inventory, containers: [] }, j.credential)).status).toBe(401);
  });

  test("an expired token is refused", async () => {
    const token = await newToken({ name: "agent-late", ttl: "1m" });
    const { joinTokens } = await import("../../src/fleet/fleet.sql");
    t.deps.db
      .update(joinTokens)
      .set({ expiresAt: new Date(Date.now() - 1000).toISOString() })
      .run();
    const r = await agentCall("/join", { token, name: "x", inventory });
    expect(r.status).toBe(401);
    expect(JSON.stringify(await r.json())).toContain("expired");
    expect((await t.request("/api/v1/hosts/agent-late")).status).toBe(404);
  });
});

describe("host list, label, drain, remove", () => {
  test("offline after three missed heartbeats, with the time it was last heard of", async () => {
    const j = await join("agent-off");
    const last = new Date(Date.now() - 3_500).toISOString();
    t.deps.db.update(hosts).set({ lastHeartbeatAt: last }).where(eq(hosts.id, j.hostId)).run();
    const list = (await (await t.request("/api/v1/hosts")).json()) as {
      name: string;
      status: string;
      offlineSince: string;
    }[];
    expect(list.find((h) => h.name === "agent-off")).toMatchObject({ status: "offline", offlineSince: last });
    await agentCall("/heartbeat", { inventory, containers: [] }, j.credential);
    const back = (await (await t.request("/api/v1/hosts/agent-off")).json()) as { status: string };
    expect(back.status).toBe("online");
  });

  test("labels and draining: admins only, viewers and members read", async () => {
    await join("agent-lbl");
    const member = await t.request("/api/v1/hosts/agent-lbl/labels", {
      method: "PUT",
      body: JSON.stringify({ set: { a: "1" } }),
      token: memberToken,
    });
    expect(member.status).toBe(403);
    expect((await t.request("/api/v1/hosts", { token: memberToken })).status).toBe(200);
    const r = await t.request("/api/v1/hosts/agent-lbl/labels", {
      method: "PUT",
      body: JSON.stringify({ set: { disk: "ssd", zone: "b" } }),
    });
    expect(((await r.json()) as { labels: unknown }).labels).toEqual({ disk: "ssd", zone: "b" });
    const r2 = await t.request("/api/v1/hosts/agent-lbl/labels", {
      method: "PUT",
      body: JSON.stringify({ remove: ["zone"] }),
    });
    expect(((await r2.json()) as { labels: unknown }).labels).toEqual({ disk: "ssd" });
    const d = await t.request("/api/v1/hosts/agent-lbl/draining", { method: "PUT", body: '{"draining":true}' });
    expect(((await d.json()) as { draining: boolean }).draining).toBe(true);
    expect((await t.request("/api/v1/hosts/nope/draining", { method: "PUT", body: '{"draining":true}' })).status).toBe(
      404,
    );
  });

  test("remove refuses while envs live there; --force says what is lost and revokes the credential", async () => {
    const j = await join("agent-rm");
    const project = t.deps.db.insert(projects).values({ name: "p-rm" }).returning().get();
    t.deps.db
      .insert(environments)
      .values({
        projectId: project.id,
        name: "shop-rm",
        slug: "shop-rm",
        tier: "dev",
        status: "active",
        hostId: j.hostId,
        odooImage: "odoo:17.0",
        domain: "shop-rm.test",
        dbName: "odoo_shop_rm",
        dbUser: "odoo_shop_rm",
        dbPasswordEnc: "x",
        adminPasswdEnc: "x",
        cpus: "1",
        memoryMb: 512,
        modules: ["base"],
      })
      .run();
    t.deps.db
      .insert(jobs)
      .values({ kind: "env.start", params: {}, lockKey: "k", target: "shop-rm", hostId: j.hostId })
      .run();
    const refused = await t.request("/api/v1/hosts/agent-rm", { method: "DELETE" });
    expect(refused.status).toBe(409);
    expect(JSON.stringify(await refused.json())).toContain("shop-rm");
    expect((await agentCall("/heartbeat", { inventory, containers: [] }, j.credential)).status).toBe(200);

    const r = await t.request("/api/v1/hosts/agent-rm?force=true", { method: "DELETE" });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ host: "agent-rm", abandonedEnvs: ["shop-rm"], failedJobs: 1 });
    expect((await agentCall("/heartbeat", { inventory, containers: [] }, j.credential)).status).toBe(401);
    expect((await t.request("/api/v1/hosts/agent-rm")).status).toBe(404);
    const env = t.deps.db.select().from(environments).where(eq(environments.name, "shop-rm")).get();
    expect(env?.status).toBe("destroyed");
    expect(env?.statusReason).toContain("left on the host, unmanaged");
  });

  test("the coordinator's own host cannot be removed", async () => {
    const self = t.deps.db.insert(hosts).values({ name: "coord-self", role: "coordinator" }).returning().get();
    (t.deps.fleet as { localHostId: string | null }).localHostId = self.id;
    const r = await t.request("/api/v1/hosts/coord-self", { method: "DELETE" });
    expect(r.status).toBe(409);
  });
});

describe("cli", () => {
  const env = () => ({ ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: t.token, ODOOOPS_ROOT: "/nonexistent" });
  const fetchApi = (url: string, init?: RequestInit) => t.fetch(url, init);

  test("host token create prints the init command; --json the token", async () => {
    const r = await runCliWith(
      ["host", "token", "create", "--ttl", "10m", "--name", "cli-1", "--label", "a=1", "--label", "b=2"],
      {
        fetch: fetchApi,
        env: env(),
      },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^odooops init --role agent --join-url https:\/\/127\.0\.0\.1:8421 --join-token odj_\S+\n$/,
    );
    const token = r.stdout.trim().split(" ").at(-1) ?? "";
    const j = await join("cli-1", token);
    expect(j.name).toBe("cli-1");
    const h = (await (await t.request("/api/v1/hosts/cli-1")).json()) as { labels: unknown };
    expect(h.labels).toEqual({ a: "1", b: "2" });
    const bad = await runCliWith(["host", "token", "create", "--ttl", "forever"], { fetch: fetchApi, env: env() });
    expect(bad.code).toBe(2);
  });

  test("host list / get / drain / remove", async () => {
    const list = await runCliWith(["host", "list"], { fetch: fetchApi, env: env() });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("cli-1");
    const get = await runCliWith(["host", "get", "cli-1"], { fetch: fetchApi, env: env() });
    expect(get.stdout).toContain("4 cores, 8192 MB memory, 50000 MB disk free");
    expect(get.stdout).toContain("docker 24.0.5, PostgreSQL 15.4, nginx 1.22.1");
    const drain = await runCliWith(["host", "drain", "cli-1"], { fetch: fetchApi, env: env() });
    expect(drain.stderr).toContain("cli-1 is draining");
    const json = await runCliWith(["--json", "host", "get", "cli-1"], { fetch: fetchApi, env: env() });
    expect(JSON.parse(json.stdout).draining).toBe(true);
    const noYes = await runCliWith(["host", "remove", "cli-1"], { fetch: fetchApi, env: env() });
    expect(noYes.code).toBe(2);
    expect((await t.request("/api/v1/hosts/cli-1")).status).toBe(200);
    const rm = await runCliWith(["host", "remove", "cli-1", "--yes"], { fetch: fetchApi, env: env() });
    expect(rm.code).toBe(0);
    expect(rm.stderr).toContain("agent credential is revoked");
  });
});
