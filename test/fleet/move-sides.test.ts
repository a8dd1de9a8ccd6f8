/**
 * Who holds what of an env while it moves: the pure rules (src/fleet/move-sides.ts), then the
 * state link applying them on real SQLite state (src/fleet/mirror-apply.ts): which host's lease
 * carries the env and as what, and whose reported changes the coordinator takes, drops or refuses.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { ConfigSchema } from "../../src/config/schema";
import { createEnvJob } from "../../src/env/create-job";
import { type Environment, environments } from "../../src/env/env.sql";
import type { EnvDetail, EnvSummary } from "../../src/env/schema";
import { recordMoveDone, recordMoveTarget, recordServing } from "../../src/env/state";
import { Forbidden } from "../../src/errors";
import { placementCandidates } from "../../src/fleet/candidates";
import { applyAgentChanges, sliceFor } from "../../src/fleet/mirror-apply";
import { envBefore, MoveJobParams, moveEnvJob, moveOutJob } from "../../src/fleet/move-job";
import { jobsOfKind } from "../../src/jobs/lookup";
import { pendingColumns, switchToTarget } from "../../src/fleet/move-pending";
import { holdsOldCopy, makesNewCopy, moveSide, moveUnderWay, takesEnvChanges } from "../../src/fleet/move-sides";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";
import { Browser, consoleFetcher } from "../console/support";
import { onlineAgent } from "../support/fleet-api";

describe("the rules", () => {
  const moving = { hostId: "old", movingToHostId: "new", movedFromHostId: null };
  const switched = { hostId: "new", movingToHostId: null, movedFromHostId: "old" };
  const settled = { hostId: "old", movingToHostId: null, movedFromHostId: null };

  test("each host's part: owner, target before the switch, leaving after it, none otherwise", () => {
    const sides = (env: typeof moving | typeof switched | typeof settled) =>
      ["old", "new", "other"].map((h) => moveSide(env, h));
    expect(sides(settled)).toEqual(["owner", null, null]);
    expect(sides(moving)).toEqual(["owner", "target", null]);
    expect(sides(switched)).toEqual(["leaving", "owner", null]);
  });

  test("the old host keeps its copy's columns while the move runs, and only then", () => {
    expect([holdsOldCopy(moving, "old"), holdsOldCopy(moving, "new")]).toEqual([true, false]);
    expect([holdsOldCopy(switched, "old"), holdsOldCopy(switched, "new")]).toEqual([true, false]);
    expect(holdsOldCopy(settled, "old")).toBe(false);
  });

  test("only the target before the switch makes a new copy, held apart from the row", () => {
    expect([makesNewCopy(moving, "old"), makesNewCopy(moving, "new"), makesNewCopy(moving, "other")]).toEqual([
      false,
      true,
      false,
    ]);
    expect([makesNewCopy(switched, "old"), makesNewCopy(switched, "new")]).toEqual([false, false]);
  });

  test("the env row takes changes from its owner and the target, never from the host it left or a stranger", () => {
    expect([takesEnvChanges(moving, "old"), takesEnvChanges(moving, "new")]).toEqual([true, true]);
    expect([takesEnvChanges(switched, "old"), takesEnvChanges(switched, "new")]).toEqual([false, true]);
    expect(takesEnvChanges(moving, "other")).toBe(false);
  });
});

describe("the state link during a move", () => {
  let t: Awaited<ReturnType<typeof makeTestApi>>;
  let env: Environment;
  let moveJobId: string;
  const ids: Record<string, string> = {};
  const row = () => t.deps.db.select().from(environments).where(eq(environments.id, env.id)).get()!;

  beforeAll(async () => {
    t = await makeTestApi({
      config: ConfigSchema.parse({
        role: "coordinator",
        fleet: { heartbeatSec: 10 },
        backups: { s3: { bucket: "fleet-backups", prefix: "odooops/" } },
      }),
    });
    for (const name of ["old", "new", "other"]) {
      ids[name] = onlineAgent(t.deps.db, name);
    }
    const r = await t.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: "shop", tier: "dev", host: "old" }),
    });
    expect(r.status).toBe(202);
    env = t.deps.db.select().from(environments).where(eq(environments.slug, "shop")).get()!;
    recordServing(t.deps.db, env.id, { containerName: "old-shop-r1", httpPort: 8100, longpollPort: 8101, release: 1 });
    t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.id, env.id)).run();
    // The move as the API queues it (no runner here): its params keep the old copy's columns.
    moveJobId = t.deps.jobs.enqueue(
      moveEnvJob,
      {
        envId: env.id,
        slug: env.slug,
        fromHostId: ids.old!,
        toHostId: ids.new!,
        fromName: "old",
        toName: "new",
        backupId: "b-1",
        before: envBefore(t.deps.db, env.id),
        dns: "point it",
      },
      null,
    ).id;
    // The target is named and its create reports its copy's columns, as an agent does.
    recordMoveTarget(t.deps.db, env.id, ids.new!);
    applyAgentChanges(t.deps.db, t.deps.box, ids.new!, {
      environments: [
        { id: env.id, set: { containerName: "new-shop-r1", httpPort: 9100, longpollPort: 9101, release: 1 } },
      ],
      deployments: [],
      backups: [],
    });
  });
  afterAll(() => t.cleanup());

  const host = (name: string) => ({ id: ids[name]!, name });
  const createOn = (name: string) => {
    const job = t.deps.jobs.enqueue(createEnvJob, { envId: env.id, slug: env.slug }, null, { hostId: ids[name]! });
    return t.deps.jobs.queue.row(job.id);
  };
  const carried = (name: string) => {
    const slice = sliceFor(t.deps.db, t.deps.box, host(name), createOn(name));
    return { jobEnvIds: slice.jobEnvIds, env: slice.environments.find((e) => e.id === env.id) };
  };

  test("placement counts the env on both hosts while it moves, and on no third", () => {
    const placed = () =>
      Object.fromEntries(
        placementCandidates(t.deps.db, { localHostId: null, heartbeatSec: 10, at: new Date(), exceptEnvId: null }).map(
          (c) => [c.name, c.placed.cpus],
        ),
      );
    const cpus = Number(env.cpus);
    expect(placed()).toEqual({ old: cpus, new: cpus, other: 0 });
  });

  test("another move is refused while one is queued", () => {
    expect(moveUnderWay(t.deps.db, row())).toStartWith("shop is already being moved (job ");
  });

  test("the row still names the old host; the target's lease carries the env as placed on the target, with its own copy's columns", () => {
    expect({ hostId: row().hostId, movingToHostId: row().movingToHostId }).toEqual({
      hostId: ids.old,
      movingToHostId: ids.new,
    });
    const { jobEnvIds, env: wire } = carried("new");
    expect(jobEnvIds).toEqual([env.id]);
    expect(wire).toMatchObject({ hostId: ids.new, httpPort: 9100, containerName: "new-shop-r1" });
    // The move's own columns never travel.
    expect(Object.keys(wire!)).not.toContain("movingToHostId");
  });

  test("the old host's lease carries its own copy's columns, not the target's", () => {
    const { jobEnvIds, env: wire } = carried("old");
    expect(jobEnvIds).toEqual([env.id]);
    expect(wire).toMatchObject({ hostId: ids.old, httpPort: 8100, longpollPort: 8101, containerName: "old-shop-r1" });
  });

  test("the row keeps the serving copy's columns while the target's are held apart; env get and env list show the old host and the move", async () => {
    expect(row()).toMatchObject({ hostId: ids.old, containerName: "old-shop-r1", httpPort: 8100, longpollPort: 8101 });
    expect(pendingColumns(t.deps.db, env.id)).toMatchObject({ containerName: "new-shop-r1", httpPort: 9100 });
    const since = t.deps.jobs.queue.row(moveJobId).createdAt;
    const note = `moving to new (job ${moveJobId}, since ${since})`;
    const got = (await (await t.request("/api/v1/environments/shop")).json()) as EnvDetail;
    expect({ host: got.host, httpPort: got.httpPort, longpollPort: got.longpollPort, move: got.move }).toEqual({
      host: "old",
      httpPort: 8100,
      longpollPort: 8101,
      move: note,
    });
    const list = (await (await t.request("/api/v1/environments")).json()) as EnvSummary[];
    expect(list.find((e) => e.slug === "shop")?.move).toBe(note);
    // The CLI, text and --json.
    const cli = (...argv: string[]) =>
      runCliWith(argv, {
        fetch: (url, init) => t.fetch(url, init),
        env: { ODOOOPS_URL: "http://odooops.test", ODOOOPS_TOKEN: t.token },
      });
    const text = await cli("env", "get", "shop");
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("host      old\n");
    expect(text.stdout).toContain(`move      ${note}\n`);
    expect(JSON.parse((await cli("--json", "env", "get", "shop")).stdout).move).toBe(note);
    const table = await cli("env", "list");
    expect(table.stdout).toMatch(new RegExp(`\\bshop\\b.*\\bold \\(${note.replace(/[()]/g, "\\$&")}\\)`));
    expect(JSON.parse((await cli("--json", "env", "list")).stdout)[0].move).toBe(note);
    // The console's overview, under the host.
    await t.deps.auth.createUser("move-viewer", "move-viewer-password-1", "viewer");
    const browser = new Browser(consoleFetcher(t.deps, t.app));
    await browser.login("move-viewer", "move-viewer-password-1");
    expect(await (await browser.request("/")).text()).toContain(`old<br><span class="muted">${note}</span>`);
  });

  test("a deploy, a rollback, a stop and a destroy are refused while the move runs, naming it; nothing queued", async () => {
    const jobsBefore = t.deps.jobs.queue.list({ limit: 1000 }).length;
    const refusals: [string, string, string][] = [
      ["POST", "/api/v1/environments/shop/deployments", "deploy"],
      ["POST", "/api/v1/environments/shop/rollback", "rollback"],
      ["POST", "/api/v1/environments/shop/stop", "stop"],
      ["DELETE", "/api/v1/environments/shop", "destroy it"],
    ];
    for (const [method, path, what] of refusals) {
      const res = await t.request(path, { method, ...(method === "POST" && { body: JSON.stringify({}) }) });
      const body = (await res.json()) as { error: { message: string } };
      expect({ what, status: res.status, message: body.error.message }).toEqual({
        what,
        status: 409,
        message: `environment shop is being moved from old to new (job ${moveJobId}, since ${t.deps.jobs.queue.row(moveJobId).createdAt}); ${what} when the move is over`,
      });
    }
    expect(t.deps.jobs.queue.list({ limit: 1000 }).length).toBe(jobsBefore);
    expect(row()).toMatchObject({ status: "active", hostId: ids.old });
  });

  test("a host with no part in the move gets nothing of the env", () => {
    expect(carried("other")).toEqual({ jobEnvIds: [], env: undefined });
  });

  test("the target's changes are held for the switch and its next lease, its host id never; a stranger's and a rename are refused, nothing written", () => {
    applyAgentChanges(t.deps.db, t.deps.box, ids.new!, {
      environments: [{ id: env.id, set: { hostId: ids.new!, httpPort: 9200 } }],
      deployments: [],
      backups: [],
    });
    expect({ hostId: row().hostId, httpPort: row().httpPort }).toEqual({ hostId: ids.old, httpPort: 8100 });
    expect(carried("new").env).toMatchObject({ hostId: ids.new, httpPort: 9200, containerName: "new-shop-r1" });
    const refused = (hostId: string, set: Record<string, unknown>) => () =>
      applyAgentChanges(t.deps.db, t.deps.box, hostId, {
        environments: [{ id: env.id, set }],
        deployments: [],
        backups: [],
      });
    expect(refused(ids.other!, { httpPort: 1 })).toThrow(Forbidden);
    expect(refused(ids.new!, { name: "renamed" })).toThrow("cannot change name");
    expect(refused(ids.new!, { hostId: ids.other! })).toThrow("cannot change hostId");
    expect({ hostId: row().hostId, httpPort: row().httpPort, name: row().name }).toEqual({
      hostId: ids.old,
      httpPort: 8100,
      name: "shop",
    });
    expect(pendingColumns(t.deps.db, env.id)).toMatchObject({ httpPort: 9200 });
  });

  test("the switch makes the target's copy the row's: its container and ports, nothing held apart any more", () => {
    switchToTarget(t.deps.db, env.id, { to: ids.new!, from: ids.old! });
    expect(row()).toMatchObject({
      hostId: ids.new,
      movingToHostId: null,
      movedFromHostId: ids.old,
      containerName: "new-shop-r1",
      httpPort: 9200,
      longpollPort: 9101,
    });
    expect(pendingColumns(t.deps.db, env.id)).toEqual({});
  });

  test("after the switch the host left behind tears its copy down: its lease still carries it, its changes to the row are dropped", () => {
    const job = t.deps.jobs.enqueue(
      moveOutJob,
      { envId: env.id, slug: env.slug, keepDatabase: false, finalBackupId: null, previousStatus: null },
      null,
      { hostId: ids.old! },
    );
    const slice = sliceFor(t.deps.db, t.deps.box, host("old"), t.deps.jobs.queue.row(job.id));
    expect(slice.jobEnvIds).toEqual([env.id]);
    expect(slice.environments.find((e) => e.id === env.id)).toMatchObject({ hostId: ids.old, httpPort: 8100 });
    applyAgentChanges(t.deps.db, t.deps.box, ids.old!, {
      environments: [{ id: env.id, set: { status: "stopped", httpPort: null } }],
      deployments: [],
      backups: [],
    });
    expect(row()).toMatchObject({ hostId: ids.new, movedFromHostId: ids.old, status: "active", httpPort: 9200 });
  });

  test("env get says the old copy is being removed while the move runs after the switch, and nothing once it is over", async () => {
    const detail = async () => (await (await t.request("/api/v1/environments/shop")).json()) as EnvDetail;
    expect((await detail()).move).toStartWith(`moved from old, removing the old copy there (job ${moveJobId}, since `);
    // The move ends: its job finishes (here: cancelled, no runner) and the old copy is gone.
    t.deps.jobs.queue.cancel(moveJobId);
    expect((await detail()).move).toBe("old copy left on old: its env.move job could not remove it");
    recordMoveDone(t.deps.db, env.id);
    const over = await detail();
    expect({ host: over.host, move: over.move, httpPort: over.httpPort }).toEqual({
      host: "new",
      move: null,
      httpPort: 9200,
    });
  });

  test("a queueing step run again after a crash waits for the job it queued then; a first run queues one", async () => {
    const step = moveEnvJob.steps.find((st) => st.name === "queue-create")!;
    const params = MoveJobParams.parse(t.deps.jobs.queue.row(moveJobId).params);
    const ctx = (attempt: number) => ({
      jobId: moveJobId,
      params,
      deps: t.deps,
      attempt,
      log: () => undefined,
      signal: new AbortController().signal,
      output: () => {
        throw new Error("not read by this step");
      },
      outputIfDone: () => undefined,
    });
    const creates = () =>
      jobsOfKind(t.deps.db, "env.create")
        .filter((j) => j.lockKey === env.id && j.hostId === ids.new)
        .map((j) => j.id);
    const before = creates();
    // The earlier tests queued creates on the target after the move: the first of them is adopted.
    expect(before.length).toBeGreaterThan(0);
    expect(await step.run(ctx(2))).toEqual({ jobId: before[0] });
    expect(creates()).toEqual(before);
    const fresh = (await step.run(ctx(1))) as { jobId: string };
    expect(creates()).toEqual([...before, fresh.jobId]);
  });
});
