/**
 * `env get` of an env on an agent: its database and filestore sizes come from the agent's
 * heartbeat (measured on its host), never from the coordinator's PostgreSQL; unknown until the
 * agent reports them, and a report that does not fit the schema changes nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { diskLine } from "../../src/cli/commands/env";
import { envDiskReporter } from "../../src/env/disk-report";
import { projects } from "../../src/env/env.sql";
import { AGENT_INVENTORY, type CoordinatorApi, insertEnv, startCoordinatorApi } from "../support/fleet-api";
import { startPostgres, type TestPostgres } from "../support/postgres";

let t: CoordinatorApi["t"];
let agentCall: CoordinatorApi["agentCall"];
let join: CoordinatorApi["join"];
const inventory = AGENT_INVENTORY;

const addEnv = (name: string, hostId: string, projectId: string): string =>
  insertEnv(t.deps.db, projectId, name, hostId).id;

interface Disk {
  databaseBytes: number | null;
  filestoreBytes: number | null;
  measuredOn: string | null;
  measuredAt: string | null;
}
async function diskOf(name: string): Promise<Disk> {
  const r = await t.request(`/api/v1/environments/${name}`);
  expect(r.status).toBe(200);
  return ((await r.json()) as { disk: Disk }).disk;
}

let a1: { hostId: string; credential: string };
let a2: { hostId: string; credential: string };
const envIds: Record<string, string> = {};

beforeAll(async () => {
  ({ t, agentCall, join } = await startCoordinatorApi({ heartbeatSec: 1 }));
  a1 = await join("disk-h1");
  a2 = await join("disk-h2");
  const project = t.deps.db.insert(projects).values({ name: "p-disk" }).returning().get();
  envIds.shop = addEnv("disk-shop", a1.hostId, project.id);
  envIds.other = addEnv("disk-other", a2.hostId, project.id);
});
afterAll(() => t.cleanup());

describe("env get disk use of an env on an agent", () => {
  test("before its agent reports: unknown on that host, nothing from the coordinator's cluster", async () => {
    expect(await diskOf("disk-shop")).toEqual({
      databaseBytes: null,
      filestoreBytes: null,
      measuredOn: "disk-h1",
      measuredAt: null,
    });
  });

  test("the sizes its agent's heartbeat carries, with where and when they were measured", async () => {
    const measuredAt = "2026-12-05T13:00:00.000Z";
    const beat = {
      inventory,
      containers: [],
      envDisk: [{ env: envIds.shop, databaseBytes: 123_456_789, filestoreBytes: 4_096, measuredAt }],
    };
    expect((await agentCall("/heartbeat", beat, a1.credential)).status).toBe(200);
    expect(await diskOf("disk-shop")).toEqual({
      databaseBytes: 123_456_789,
      filestoreBytes: 4_096,
      measuredOn: "disk-h1",
      measuredAt,
    });
    // A heartbeat without the field (an older agent) keeps the last report.
    expect((await agentCall("/heartbeat", { inventory, containers: [] }, a1.credential)).status).toBe(200);
    expect((await diskOf("disk-shop")).databaseBytes).toBe(123_456_789);
  });

  test("another agent's report about an env not on it is ignored", async () => {
    const beat = {
      inventory,
      containers: [],
      envDisk: [{ env: envIds.shop, databaseBytes: 1, filestoreBytes: 1, measuredAt: new Date().toISOString() }],
    };
    expect((await agentCall("/heartbeat", beat, a2.credential)).status).toBe(200);
    expect((await diskOf("disk-shop")).databaseBytes).toBe(123_456_789);
    expect((await diskOf("disk-other")).measuredAt).toBeNull();
  });

  test("a report that does not fit is refused and changes nothing", async () => {
    const good = { env: envIds.shop, databaseBytes: 5, filestoreBytes: 5, measuredAt: new Date().toISOString() };
    for (const bad of [
      { ...good, databaseBytes: -1 },
      { ...good, filestoreBytes: 1.5 },
      { ...good, measuredAt: "yesterday" },
      { ...good, env: "" },
      { ...good, extra: true },
    ]) {
      const r = await agentCall("/heartbeat", { inventory, containers: [], envDisk: [bad] }, a1.credential);
      expect(r.status).toBe(400);
    }
    expect((await diskOf("disk-shop")).databaseBytes).toBe(123_456_789);
  });
});

describe("the CLI's disk line", () => {
  test("says which host has not reported", () => {
    expect(diskLine({ databaseBytes: null, filestoreBytes: null, measuredOn: "h2", measuredAt: null })).toBe(
      "database unknown on host h2, filestore unknown on host h2",
    );
    expect(
      diskLine({ databaseBytes: null, filestoreBytes: 2048, measuredOn: "h1", measuredAt: "2026-12-05T13:00:00Z" }),
    ).toBe("database unknown, filestore 2.0 KiB");
  });
});

describe("the agent's reporter", () => {
  let pg: TestPostgres | null = null;
  beforeAll(async () => {
    // The agent's own cluster (here: one this test starts), where its env's database lives.
    pg = await startPostgres({ dockerAccess: false });
    Object.assign(t.deps.config.postgres, { host: pg.host, port: pg.port, user: pg.user, password: pg.password });
    await pg.query("postgres", (sql) => sql.unsafe("CREATE DATABASE odoo_disk_shop"));
  });
  afterAll(async () => {
    await pg?.stop();
  });

  test("one entry per live env on its host; a new env is measured at once, not after the interval", async () => {
    const report = envDiskReporter(t.deps, a1.hostId, 3_600_000);
    const first = await report();
    expect(first.map((d) => d.env)).toEqual([envIds.shop!]);
    // Measured on that cluster: a fresh database is a few MB.
    expect(first[0]!.databaseBytes).toBeGreaterThan(1_000_000);
    expect(Number.isNaN(Date.parse(first[0]!.measuredAt))).toBe(false);
    // Within the interval and nothing changed: the same figures, not measured again.
    expect(await report()).toBe(first);
    const project = t.deps.db.insert(projects).values({ name: "p-disk-2" }).returning().get();
    envIds.late = addEnv("disk-late", a1.hostId, project.id);
    const second = await report();
    expect(second.map((d) => d.env).sort()).toEqual([envIds.shop!, envIds.late!].sort());
  });
});
