/**
 * `env move ENV --to HOST`: the pure planner (every refusal, the steps in order, the DNS line),
 * then through the API (`app.request`, real SQLite state with heartbeated host rows) and the CLI
 * (citty, injected fetch). Refusals change nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { ConfigSchema } from "../../src/config/schema";
import { environments } from "../../src/env/env.sql";
import { Conflict, Invalid } from "../../src/errors";
import { hosts } from "../../src/fleet/fleet.sql";
import { recordHeartbeat } from "../../src/fleet/hosts";
import { destroyEnvJob } from "../../src/env/lifecycle-jobs";
import { moveEnvJob, moveOutJob } from "../../src/fleet/move-job";
import { planEnvMove, type MoveRequest } from "../../src/fleet/move-plan";
import type { Candidate } from "../../src/fleet/placement";
import { jobs } from "../../src/jobs/jobs.sql";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";

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

const candidate = (name: string, over: Partial<Candidate> = {}): Candidate => ({
  id: `id-${name}`,
  name,
  online: true,
  draining: false,
  labels: {},
  inventory: inv(8, 16_384, 500_000),
  placed: { cpus: 0, memoryMb: 0, diskMb: 0 },
  ...over,
});

const request = (over: Partial<MoveRequest> = {}): MoveRequest => ({
  env: { slug: "shop", domain: "shop.example.com", status: "active", cpus: 2, memoryMb: 2048 },
  from: { id: "id-a", name: "a" },
  to: "b",
  candidates: [candidate("a"), candidate("b")],
  diskMb: 10_240,
  s3: true,
  addresses: new Map([["id-b", "10.0.0.7"]]),
  ...over,
});

describe("planEnvMove", () => {
  test("the steps, old copy removed last, and where to point DNS", () => {
    expect(planEnvMove(request())).toEqual({
      env: "shop",
      from: "a",
      to: "b",
      fit: "named by --host; 75% of its tightest resource left after this env",
      transfer: "s3",
      steps: [
        "back up shop on a to the shared S3 target",
        "create shop's database, role, filestore and vhost on b and restore the backup there",
        "start shop on b and health-check it through b's nginx",
        "switch shop's host to b in the coordinator's state",
        "stop and remove shop's container, vhost and database on a",
      ],
      dns: "point shop.example.com at 10.0.0.7 (b); until then it keeps reaching a, which stops serving shop after the move",
    });
  });

  test("a host whose address is unknown is named instead", () => {
    expect(planEnvMove(request({ addresses: new Map() })).dns).toStartWith(
      "point shop.example.com at the address of host b (b);",
    );
  });

  test("the same host is refused", () => {
    expect(() => planEnvMove(request({ to: "a" }))).toThrow(new Invalid("shop already runs on host a"));
  });

  test("an env that is not active or stopped is refused", () => {
    const r = request({ env: { ...request().env, status: "creating" } });
    expect(() => planEnvMove(r)).toThrow(
      new Conflict("shop is creating; only an active or stopped environment can be moved"),
    );
  });

  test("without the shared S3 target the copy is relayed through the coordinator, and the plan says so", () => {
    const plan = planEnvMove(request({ s3: false }));
    expect(plan.transfer).toBe("relay");
    expect(plan.steps.slice(0, 2)).toEqual([
      "back up shop on a into its local backups (no shared S3 target: the copy is relayed through the coordinator)",
      "create shop's database, role, filestore and vhost on b and restore the backup there, fetched from a through the coordinator and checked against its recorded manifest",
    ]);
  });

  test("an unknown, offline, draining or full host is refused with placement's reason", () => {
    const cases: [Candidate, string][] = [
      [candidate("c"), "no host b"],
      [
        candidate("b", { online: false, offlineSince: "2026-12-05T10:00:00.000Z" }),
        "b: offline since 2026-12-05T10:00:00.000Z",
      ],
      [candidate("b", { draining: true }), "b: draining"],
      [candidate("b", { placed: { cpus: 7, memoryMb: 0, diskMb: 0 } }), "b: 1 of 2 cores free"],
      [candidate("b", { inventory: inv(8, 16_384, 1_000) }), "b: 1000 of 10240 MB disk free"],
    ];
    for (const [c, reason] of cases) {
      const run = () => planEnvMove(request({ candidates: [candidate("a"), c] }));
      expect(run).toThrow(Conflict);
      expect(run).toThrow(reason);
    }
  });
});

describe("the move job", () => {
  test("locks a key of its own, so the env's own jobs it queues and waits for can run", () => {
    expect(moveEnvJob.lockKey(params)).toBe("move:env-1");
    expect(moveOutJob.lockKey(removal)).toBe("env-1");
  });

  test("steps: backup, placement, create, restore, then the switch before the old copy goes", () => {
    expect(moveEnvJob.steps.map((s) => s.name)).toEqual([
      "queue-backup",
      "backup",
      "place",
      "queue-create",
      "create",
      "queue-restore",
      "restore",
      "switch",
      "queue-remove-old",
      "remove-old",
      "done",
    ]);
    // Only placement and the target's copy are undone, and only before the switch (move-job.ts).
    expect(moveEnvJob.steps.filter((s) => s.undo).map((s) => s.name)).toEqual(["place", "queue-create"]);
  });

  test("removing a moved env's copy is the destroy without its final backup, and marks nothing destroyed", () => {
    expect(moveOutJob.steps.map((s) => s.name)).toEqual(
      destroyEnvJob.steps.map((s) => s.name).filter((n) => n !== "final-backup"),
    );
    expect(moveOutJob.succeeded).toBeUndefined();
    expect(moveOutJob.failed).toBeUndefined();
  });

  test("a move's params must carry the env row as it was before", () => {
    const { before: _b, ...without } = params;
    expect(moveEnvJob.params.safeParse(without).success).toBe(false);
    expect(moveEnvJob.params.safeParse(params).success).toBe(true);
  });
});

const params = {
  envId: "env-1",
  slug: "shop",
  fromHostId: "h-1",
  toHostId: "h-2",
  fromName: "coord",
  toName: "eu-2",
  backupId: "b-1",
  before: {
    hostId: null,
    status: "active",
    statusReason: null,
    httpFallbackReason: null,
    httpPort: 8100,
    longpollPort: 8101,
    containerName: "odooops-shop-web-1",
    release: 1,
    dbPasswordEnc: "sealed",
  },
  dns: "point shop.example at 10.0.0.6 (eu-2)",
} as const;
const removal = { envId: "env-1", slug: "shop", keepDatabase: false, finalBackupId: null, previousStatus: null };

describe("through the API and the CLI", () => {
  let t: Awaited<ReturnType<typeof makeTestApi>>;
  const counts = () => ({
    envs: t.deps.db.select({ n: sql<number>`count(*)` }).from(environments).get()!.n,
    jobs: t.deps.db.select({ n: sql<number>`count(*)` }).from(jobs).get()!.n,
    hostIds: t.deps.db
      .select({ h: environments.hostId })
      .from(environments)
      .all()
      .map((r) => r.h),
  });

  function addHost(name: string, opts: { draining?: boolean; agoMs?: number; address?: string } = {}) {
    const row = t.deps.db
      .insert(hosts)
      .values({ name, role: "agent", draining: opts.draining ?? false, address: opts.address ?? null })
      .returning()
      .get();
    recordHeartbeat(
      t.deps.db,
      row.id,
      { inventory: inv(8, 16_384, 500_000), containers: [] },
      new Date(Date.now() - (opts.agoMs ?? 0)),
    );
  }

  const move = async (name: string, body: Record<string, unknown>) => {
    const r = await t.request(`/api/v1/environments/${name}/move`, { method: "POST", body: JSON.stringify(body) });
    return {
      status: r.status,
      body: (await r.json()) as { plan: { to: string; dns: string }; error: { message: string } },
    };
  };

  beforeAll(async () => {
    t = await makeTestApi({
      config: ConfigSchema.parse({
        role: "coordinator",
        fleet: { heartbeatSec: 10 },
        backups: { s3: { bucket: "fleet-backups", prefix: "odooops/" } },
      }),
    });
    addHost("eu-1", { address: "10.0.0.5" });
    addHost("eu-2", { address: "10.0.0.6" });
    addHost("eu-draining", { draining: true });
    addHost("eu-gone", { agoMs: 3_600_000 });
    const r = await t.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: "shop", tier: "dev", host: "eu-1" }),
    });
    expect(r.status).toBe(202);
    t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, "shop")).run();
  });
  afterAll(() => t.cleanup());

  test("a dry run returns the plan and changes nothing", async () => {
    const before = counts();
    const r = await move("shop", { to: "eu-2", dryRun: true });
    expect(r.status).toBe(200);
    expect(r.body.plan.to).toBe("eu-2");
    expect(r.body.plan.dns).toStartWith("point shop.dev.odoo.localhost at 10.0.0.6 (eu-2);");
    expect(counts()).toEqual(before);
  });

  test("refusals: same host, draining, offline, unknown env; nothing changed", async () => {
    const before = counts();
    const cases: [string, Record<string, unknown>, number, string][] = [
      ["shop", { to: "eu-1", dryRun: true }, 400, "shop already runs on host eu-1"],
      ["shop", { to: "eu-draining", dryRun: true }, 409, "eu-draining: draining"],
      ["shop", { to: "eu-gone", dryRun: true }, 409, "eu-gone: offline since"],
      ["nope", { to: "eu-2", dryRun: true }, 404, "nope"],
    ];
    for (const [name, body, status, message] of cases) {
      const r = await move(name, body);
      expect(r.status).toBe(status);
      expect(r.body.error.message).toContain(message);
    }
    expect(counts()).toEqual(before);
  });

  test("moving an env off an agent host queues the move; its host stays until the switch; a second move is refused while it is under way", async () => {
    const r = await t.request("/api/v1/environments/shop/move", {
      method: "POST",
      body: JSON.stringify({ to: "eu-2" }),
    });
    expect(r.status).toBe(202);
    const body = (await r.json()) as { job: { id: string; kind: string } };
    expect(body.job.kind).toBe("env.move");
    const env = t.deps.db.select().from(environments).where(eq(environments.slug, "shop")).get()!;
    const eu1 = t.deps.db.select().from(hosts).where(eq(hosts.name, "eu-1")).get()!;
    const eu2 = t.deps.db.select().from(hosts).where(eq(hosts.name, "eu-2")).get()!;
    expect({ hostId: env.hostId, movingToHostId: env.movingToHostId }).toEqual({
      hostId: eu1.id,
      movingToHostId: null,
    });
    const job = t.deps.db.select().from(jobs).where(eq(jobs.id, body.job.id)).get()!;
    expect(job.params).toMatchObject({ fromHostId: eu1.id, toHostId: eu2.id, fromName: "eu-1", toName: "eu-2" });
    const before = counts();
    const again = await move("shop", { to: "eu-2" });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toBe(`shop is already being moved (job ${body.job.id}); nothing was changed`);
    expect(counts()).toEqual(before);
    // Cancelled while queued: a new move may be asked for.
    t.deps.jobs.queue.cancel(body.job.id);
    expect((await move("shop", { to: "eu-2", dryRun: true })).status).toBe(200);
  });

  test("a member may not move environments", async () => {
    await t.deps.auth.createUser("mover", "member-password-1", "member");
    const r = await t.request("/api/v1/environments/shop/move", {
      method: "POST",
      body: JSON.stringify({ to: "eu-2", dryRun: true }),
      token: await t.login("mover", "member-password-1"),
    });
    expect(r.status).toBe(403);
  });

  test("odooops env move --dry-run prints the plan; --json the answer", async () => {
    const env = { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: t.token, ODOOOPS_ROOT: "/nonexistent" };
    const cli = (argv: string[]) => runCliWith(argv, { fetch: (url, init) => t.fetch(url, init), env });
    const r = await cli(["env", "move", "shop", "--to", "eu-2", "--dry-run"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "move shop from eu-1 to eu-2 (named by --host; 87% of its tightest resource left after this env)",
        "  the copy travels through the shared S3 target",
        "  1. back up shop on eu-1 to the shared S3 target",
        "  2. create shop's database, role, filestore and vhost on eu-2 and restore the backup there",
        "  3. start shop on eu-2 and health-check it through eu-2's nginx",
        "  4. switch shop's host to eu-2 in the coordinator's state",
        "  5. stop and remove shop's container, vhost and database on eu-1",
        "DNS: point shop.dev.odoo.localhost at 10.0.0.6 (eu-2); until then it keeps reaching eu-1, which stops serving shop after the move",
        "",
      ].join("\n"),
    );
    const j = await cli(["--json", "env", "move", "shop", "--to", "eu-2", "--dry-run"]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ dryRun: true, plan: { from: "eu-1", to: "eu-2", transfer: "s3" } });
    const refused = await cli(["env", "move", "shop", "--to", "eu-1"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("shop already runs on host eu-1");
  });
});
