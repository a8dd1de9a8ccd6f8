/**
 * env create in a fleet, through the API (`app.request`) and the CLI (citty, injected fetch):
 * several host rows with heartbeated inventories on real SQLite state; placement by label and
 * capacity, limits fitted to the chosen host, refusals that name every host and change nothing,
 * the HOST column, cross-host clones refused, and queued jobs of a long-offline host failed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { ConfigSchema } from "../../src/config/schema";
import { schedulesFor } from "../../src/daemon/schedules";
import { environments } from "../../src/env/env.sql";
import { hosts } from "../../src/fleet/fleet.sql";
import { recordHeartbeat } from "../../src/fleet/hosts";
import { durationMs, failJobsOfOfflineHosts } from "../../src/fleet/offline-jobs";
import { jobs } from "../../src/jobs/jobs.sql";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";

let t: Awaited<ReturnType<typeof makeTestApi>>;
const HEARTBEAT_SEC = 10;

const inv = (cores: number, memoryMb: number, diskFreeMb: number) => ({
  cores,
  memoryMb,
  diskFreeMb,
  load: 0,
  docker: "24.0.5",
  postgres: "15.4",
  nginx: "1.22.1",
  agentVersion: "0.1.0",
});

const ids: Record<string, string> = {};

/** A host row with a heartbeat `agoMs` ago (the way an agent's heartbeat records it). */
function addHost(
  name: string,
  opts: { labels?: Record<string, string>; inventory?: ReturnType<typeof inv>; agoMs?: number; draining?: boolean },
) {
  const row = t.deps.db
    .insert(hosts)
    .values({ name, role: "agent", labels: opts.labels ?? {}, draining: opts.draining ?? false })
    .returning()
    .get();
  recordHeartbeat(
    t.deps.db,
    row.id,
    { inventory: opts.inventory ?? inv(8, 16_384, 500_000), containers: [] },
    new Date(Date.now() - (opts.agoMs ?? 0)),
  );
  ids[name] = row.id;
}

const counts = () => ({
  envs: t.deps.db.select({ n: sql<number>`count(*)` }).from(environments).get()!.n,
  jobs: t.deps.db.select({ n: sql<number>`count(*)` }).from(jobs).get()!.n,
});

/** The create answer's fields these tests read (a refusal has only `error`). */
interface CreateAnswer {
  plan: {
    host: { id: string; name: string; why: string; passedOver: string[] };
    resources: Record<string, number>;
    notes: string[];
  };
  env: { host: string | null };
  job: { id: string };
  error: { message: string };
}

async function create(body: Record<string, unknown>) {
  const r = await t.request("/api/v1/environments", { method: "POST", body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as CreateAnswer };
}

beforeAll(async () => {
  t = await makeTestApi({
    config: ConfigSchema.parse({ role: "coordinator", fleet: { heartbeatSec: HEARTBEAT_SEC } }),
  });
});
afterAll(() => t.cleanup());

describe("standalone: no host besides this one", () => {
  test("create behaves as before: no host, no host id on the env or its job", async () => {
    const dry = await create({ name: "solo-dry", tier: "dev", dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body.plan.host).toBeNull();
    const r = await create({ name: "solo", tier: "dev" });
    expect(r.status).toBe(202);
    expect(r.body.env.host).toBeNull();
    const env = t.deps.db.select().from(environments).where(eq(environments.slug, "solo")).get()!;
    expect(env.hostId).toBeNull();
    expect(t.deps.db.select().from(jobs).where(eq(jobs.id, r.body.job.id)).get()!.hostId).toBeNull();
  });
});

describe("in a fleet", () => {
  beforeAll(() => {
    // The coordinator's own host: small, with the standalone env above counted on it.
    const self = t.deps.db.insert(hosts).values({ name: "coord", role: "coordinator" }).returning().get();
    recordHeartbeat(t.deps.db, self.id, { inventory: inv(2, 4096, 100_000), containers: [] });
    ids.coord = self.id;
    (t.deps.fleet as { localHostId: string | null }).localHostId = self.id;
    addHost("eu-1", { labels: { region: "eu" }, inventory: inv(4, 8192, 200_000) });
    addHost("eu-2", { labels: { region: "eu" }, draining: true });
    addHost("us-1", { labels: { region: "us" }, inventory: inv(16, 65_536, 900_000) });
    addHost("gone", { labels: { region: "eu" }, agoMs: 3_600_000 });
    addHost("tiny", { labels: { region: "ap" }, inventory: inv(2, 4096, 200_000) });
  });

  test("--dry-run names the chosen host, why, and the hosts passed over; nothing is created", async () => {
    const before = counts();
    const r = await create({ name: "shop-eu", tier: "staging", labels: { region: "eu" }, dryRun: true });
    expect(r.status).toBe(200);
    expect(r.body.plan.host).toMatchObject({ id: ids["eu-1"], name: "eu-1" });
    expect(r.body.plan.host.why).toContain("the most free capacity of 1 host(s) that fit with region=eu");
    expect(r.body.plan.host.passedOver).toEqual([
      "coord: no label region=eu",
      "eu-2: draining",
      expect.stringMatching(/^gone: offline since \d{4}-/),
      "tiny: no label region=eu",
      "us-1: no label region=eu",
    ]);
    expect(counts()).toEqual(before);
  });

  test("--label: the env row and its job carry the matching host's id", async () => {
    const r = await create({ name: "shop-eu", tier: "staging", labels: { region: "eu" } });
    expect(r.status).toBe(202);
    expect(r.body.env.host).toBe("eu-1");
    const env = t.deps.db.select().from(environments).where(eq(environments.slug, "shop-eu")).get()!;
    expect(env.hostId).toBe(ids["eu-1"]!);
    expect(t.deps.db.select().from(jobs).where(eq(jobs.id, r.body.job.id)).get()!.hostId).toBe(ids["eu-1"]!);
    const host = (await (await t.request("/api/v1/hosts/eu-1")).json()) as { envs: string[] };
    expect(host.envs).toEqual(["shop-eu"]);
    const detail = (await (await t.request("/api/v1/environments/shop-eu")).json()) as { host: string };
    expect(detail.host).toBe("eu-1");
  });

  test("no label: the host with the most free capacity; the tier's limits fitted to the chosen host", async () => {
    const r = await create({ name: "big", tier: "production", dryRun: true });
    expect(r.body.plan.host.name).toBe("us-1");
    expect(r.body.plan.resources.cpus).toBe(4);
    expect(r.body.plan.notes).toEqual([]);
    // tiny has 2 cores: production's 4 are lowered to them, as a standalone host of that size would.
    const pinned = await create({ name: "big", tier: "production", host: "tiny", dryRun: true });
    expect(pinned.status).toBe(200);
    expect(pinned.body.plan.host.why).toBe("named by --host; 0% of its tightest resource left after this env");
    expect(pinned.body.plan.resources.cpus).toBe(2);
    expect(pinned.body.plan.notes).toEqual(["tiers.production.cpus 4 is above host tiny's 2 CPUs: using 2"]);
    // The coordinator has 2 cores and runs solo (1 CPU): production, even lowered to 2, does not fit.
    const full = await create({ name: "big", tier: "production", host: "coord", dryRun: true });
    expect(full.status).toBe(409);
    expect(full.body.error.message).toContain("coord: 1 of 2 cores free");
  });

  test("refusals name every host and why; nothing is created", async () => {
    const before = counts();
    const none = await create({ name: "nowhere", tier: "dev", labels: { region: "eu" }, cpus: 8 });
    expect(none.status).toBe(409);
    const msg = none.body.error.message as string;
    expect(msg).toContain("no host can take an env needing 8 cores");
    expect(msg).toContain("eu-1: 2 of 8 cores free");
    expect(msg).toContain("eu-2: draining");
    expect(msg).toMatch(/gone: offline since \d{4}-/);
    expect(msg).toContain("us-1: no label region=eu");
    const offline = await create({ name: "nowhere", tier: "dev", host: "gone" });
    expect(offline.status).toBe(409);
    expect(offline.body.error.message).toMatch(/gone: offline since \d{4}-/);
    const unknown = await create({ name: "nowhere", tier: "dev", host: "nope" });
    expect(unknown.status).toBe(409);
    expect(unknown.body.error.message).toBe("no host nope");
    const badLabel = await create({ name: "nowhere", tier: "dev", labels: { "Bad Key": "x" } });
    expect(badLabel.status).toBe(400);
    expect(badLabel.body.error.message).toContain('label key "Bad Key"');
    const badType = await create({ name: "nowhere", tier: "dev", labels: ["region=eu"] });
    expect(badType.status).toBe(400);
    expect(counts()).toEqual(before);
  });

  test("a clone between envs on two hosts without the shared S3 target is planned through the coordinator's relay; a dry run queues nothing", async () => {
    await create({ name: "us-shop", tier: "dev", host: "us-1" });
    for (const slug of ["us-shop", "shop-eu"])
      t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, slug)).run();
    const before = counts();
    const r = await t.request("/api/v1/environments/us-shop/db/clone", {
      method: "POST",
      body: JSON.stringify({ from: "shop-eu", confirm: "us-shop", dryRun: true }),
    });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { job: unknown; plan: { hosts?: { path?: string } } };
    expect(body.job).toBeNull();
    expect(body.plan.hosts?.path).toBe("relay");
    expect(counts()).toEqual(before);
  });
});

describe("a host that is down", () => {
  test("the coordinator's scheduler looks every 30 s; an agent does not", () => {
    const names = (o: object) => schedulesFor(ConfigSchema.parse(o)).map((s) => `${s.name} ${s.pattern}`);
    expect(names({})).toContain("fleet.offline-jobs */30 * * * * *");
    expect(names({ role: "coordinator" })).toContain("fleet.offline-jobs */30 * * * * *");
    expect(names({ role: "agent" }).some((n) => n.startsWith("fleet.offline-jobs"))).toBe(false);
  });

  test("fleet.offlineJobTimeout: 10m by default, a duration, refused otherwise", () => {
    expect(ConfigSchema.parse({}).fleet.offlineJobTimeout).toBe("10m");
    expect(durationMs("10m")).toBe(600_000);
    expect(durationMs("90s")).toBe(90_000);
    expect(durationMs("2h")).toBe(7_200_000);
    for (const bad of ["10", "0m", "10 minutes", "1d", "-5m"])
      expect(() => ConfigSchema.parse({ fleet: { offlineJobTimeout: bad } })).toThrow(/a duration like 90s, 10m or 2h/);
  });

  test("queued jobs of a host offline past the timeout fail with the reason; others wait", () => {
    const euJob = t.deps.db
      .select()
      .from(jobs)
      .where(eq(jobs.hostId, ids["eu-1"]!))
      .all()
      .find((j) => j.status === "queued")!;
    const usJob = t.deps.db.select().from(jobs).where(eq(jobs.hostId, ids["us-1"]!)).get()!;
    const lastBeat = t.deps.db.select().from(hosts).where(eq(hosts.id, ids["eu-1"]!)).get()!.lastHeartbeatAt!;
    // Offline (3 heartbeats missed) but not yet for 10 minutes: the job waits.
    const soon = new Date(Date.parse(lastBeat) + 5 * 60_000);
    recordHeartbeat(t.deps.db, ids["us-1"]!, { inventory: inv(16, 65_536, 900_000), containers: [] }, soon);
    expect(failJobsOfOfflineHosts(t.deps, soon)).toEqual([]);
    expect(t.deps.db.select().from(jobs).where(eq(jobs.id, euJob.id)).get()!.status).toBe("queued");

    const later = new Date(Date.parse(lastBeat) + 11 * 60_000);
    recordHeartbeat(t.deps.db, ids["us-1"]!, { inventory: inv(16, 65_536, 900_000), containers: [] }, later);
    expect(failJobsOfOfflineHosts(t.deps, later)).toEqual([{ host: "eu-1", failed: 1 }]);
    const failed = t.deps.jobs.queue.view(euJob.id);
    expect(failed.status).toBe("failed");
    expect(failed.error).toBe(`host eu-1 has been offline since ${lastBeat}; the job was not started`);
    expect(failed.steps.every((s) => s.status === "skipped")).toBe(true);
    expect(t.deps.db.select().from(jobs).where(eq(jobs.id, usJob.id)).get()!.status).toBe("queued");
    // The coordinator's own host runs its jobs itself: never failed this way, however old its row's beat.
    expect(t.deps.db.select().from(jobs).where(eq(jobs.hostId, ids.coord!)).all()).toEqual([]);
  });
});

describe("a rerun of a failed create", () => {
  test("goes back to the host it failed on: refused while that host is offline, or elsewhere", async () => {
    t.deps.db.update(environments).set({ status: "failed" }).where(eq(environments.slug, "shop-eu")).run();
    const stale = new Date(Date.now() - 3_600_000);
    recordHeartbeat(t.deps.db, ids["eu-1"]!, { inventory: inv(2, 2048, 200_000), containers: [] }, stale);
    const before = counts();
    const back = await create({ name: "shop-eu", tier: "staging" });
    expect(back.status).toBe(409);
    expect(back.body.error.message).toMatch(/eu-1: offline since \d{4}-/);
    const elsewhere = await create({ name: "shop-eu", tier: "staging", host: "us-1" });
    expect(elsewhere.status).toBe(409);
    expect(elsewhere.body.error.message).toBe(
      "the failed create of this environment left its files on host eu-1: rerun it there, or destroy it first",
    );
    expect(counts()).toEqual(before);
    // Back online: the rerun is placed there again; its own row does not count against eu-1.
    recordHeartbeat(t.deps.db, ids["eu-1"]!, { inventory: inv(2, 2048, 200_000), containers: [] });
    const again = await create({ name: "shop-eu", tier: "staging", dryRun: true });
    expect(again.status).toBe(200);
    expect(again.body.plan.host.name).toBe("eu-1");
    t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, "shop-eu")).run();
  });
});

describe("cli", () => {
  const env = () => ({ ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: t.token, ODOOOPS_ROOT: "/nonexistent" });
  const cli = (argv: string[]) => runCliWith(argv, { fetch: (url, init) => t.fetch(url, init), env: env() });

  test("env list has a HOST column, --json a host field", async () => {
    const r = await cli(["env", "list"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "NAME     TIER     STATUS    HOST  BRANCH  URL",
        "shop-eu  staging  active    eu-1  -       http://shop-eu.staging.odoo.localhost",
        "solo     dev      creating  -     -       http://solo.dev.odoo.localhost",
        "us-shop  dev      active    us-1  -       http://us-shop.dev.odoo.localhost",
        "",
      ].join("\n"),
    );
    const json = await cli(["--json", "env", "list"]);
    expect((JSON.parse(json.stdout) as { name: string; host: string | null }[]).map((e) => [e.name, e.host])).toEqual([
      ["shop-eu", "eu-1"],
      ["solo", null],
      ["us-shop", "us-1"],
    ]);
  });

  test("env create --label --dry-run prints the host and why; a refusal exits non-zero and creates nothing", async () => {
    const before = counts();
    const r = await cli(["env", "create", "cli-shop", "--tier", "dev", "--label", "region=us", "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      "host: us-1 (the most free capacity of 1 host(s) that fit with region=us; 87% of its tightest resource left after this env)\n",
    );
    expect(r.stdout).toContain(
      "  passed over coord: no label region=us\n  passed over eu-1: no label region=us\n  passed over eu-2: no label region=us\n  passed over gone: no label region=us\n  passed over tiny: no label region=us\nsteps:\n",
    );
    const bad = await cli(["env", "create", "cli-shop", "--tier", "dev", "--label", "region"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--label "region": expected key=value');
    const refused = await cli(["env", "create", "cli-shop", "--tier", "dev", "--host", "gone"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/gone: offline since/);
    expect(counts()).toEqual(before);
  });

  test("env create --host: the note names the host; env get shows it", async () => {
    const r = await cli(["env", "create", "cli-us", "--tier", "dev", "--host", "us-1"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("creating cli-us (dev) on host us-1 → http://cli-us.dev.odoo.localhost");
    t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, "cli-us")).run();
    const got = await cli(["env", "get", "cli-us"]);
    expect(got.stdout).toContain("\nhost      us-1\n");
  });
});
