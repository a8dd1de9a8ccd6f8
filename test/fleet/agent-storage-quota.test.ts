/**
 * The storage quota of an env on an agent: `policy show --env` and `env get` count the sizes its
 * agent measured on its own host (heartbeat `envDisk`), never the coordinator's PostgreSQL or
 * disk; before the agent reports them the state says they are unknown (no silent pass), and a
 * deploy's check refuses a size it cannot measure.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { projects } from "../../src/env/env.sql";
import { storageQuotaText } from "../../src/cli/storage-quota";
import { policies } from "../../src/policy/policy.sql";
import { assertStorageWithinQuota } from "../../src/policy/quota";
import { AGENT_INVENTORY, type CoordinatorApi, insertEnv, startCoordinatorApi } from "../support/fleet-api";

let api: CoordinatorApi;
let agent: { hostId: string; credential: string };
let envId = "";

interface Storage {
  usedBytes: number;
  quotaBytes: number | null;
  exceeded: boolean;
  unknown: string | null;
}
async function policyStorage(): Promise<Storage> {
  const r = await api.t.request("/api/v1/policy?env=sq-shop");
  expect(r.status).toBe(200);
  return ((await r.json()) as { env: { storage: Storage } }).env.storage;
}
async function envGetStorage(): Promise<Storage> {
  const r = await api.t.request("/api/v1/environments/sq-shop");
  expect(r.status).toBe(200);
  return ((await r.json()) as { storageQuota: Storage }).storageQuota;
}
const beat = (databaseBytes: number, filestoreBytes: number) =>
  api.agentCall(
    "/heartbeat",
    {
      inventory: AGENT_INVENTORY,
      containers: [],
      envDisk: [{ env: envId, databaseBytes, filestoreBytes, measuredAt: new Date().toISOString() }],
    },
    agent.credential,
  );

beforeAll(async () => {
  api = await startCoordinatorApi({ heartbeatSec: 1 });
  agent = await api.join("sq-h1");
  const project = api.t.deps.db.insert(projects).values({ name: "p-sq" }).returning().get();
  // The policy in force: the newest one a deploy read from the default branch.
  api.t.deps.db
    .insert(policies)
    .values({
      projectId: project.id,
      source: "repo",
      commitSha: "a".repeat(40),
      branch: "main",
      document: "resource_quotas:\n  dev: { storage: 1m }\n",
    })
    .run();
  envId = insertEnv(api.t.deps.db, project.id, "sq-shop", agent.hostId).id;
});
afterAll(() => api.t.cleanup());

describe("storage quota of an env on an agent", () => {
  test("before its agent reports: unknown on that host, not a pass on the coordinator's numbers", async () => {
    const expected = {
      usedBytes: 0,
      quotaBytes: 1024 ** 2,
      exceeded: false,
      unknown: "database and filestore sizes not known on host sq-h1",
    };
    expect(await policyStorage()).toEqual(expected);
    expect(await envGetStorage()).toEqual(expected);
  });

  test("the agent's figures decide: above the quota", async () => {
    expect((await beat(3 * 1024 ** 2, 1024)).status).toBe(200);
    const expected = { usedBytes: 3 * 1024 ** 2 + 1024, quotaBytes: 1024 ** 2, exceeded: true, unknown: null };
    expect(await policyStorage()).toEqual(expected);
    expect(await envGetStorage()).toEqual(expected);
  });

  test("and below it, whatever the coordinator's own cluster holds", async () => {
    expect((await beat(1000, 24)).status).toBe(200);
    const expected = { usedBytes: 1024, quotaBytes: 1024 ** 2, exceeded: false, unknown: null };
    expect(await policyStorage()).toEqual(expected);
    expect(await envGetStorage()).toEqual(expected);
  });
});

describe("the deploy's check", () => {
  test("a size it cannot measure refuses the deploy, saying what is unknown", () => {
    expect(() =>
      assertStorageWithinQuota(
        "shop",
        "staging",
        { databaseBytes: null, filestoreBytes: 10, measuredOn: "h1" },
        { storage: "1g" },
      ),
    ).toThrow(
      "environment shop: the staging storage quota of 1.0 GiB (resource_quotas.staging.storage) cannot be checked (database size not known on host h1): new deploys are blocked until its size can be measured",
    );
    // Known and above: the size decides, not the unknown part.
    expect(() =>
      assertStorageWithinQuota(
        "shop",
        "staging",
        { databaseBytes: 2 * 1024 ** 3, filestoreBytes: null },
        { storage: "1g" },
      ),
    ).toThrow(/^environment shop uses 2\.0 GiB .* above the staging storage quota/);
    // No quota: nothing to check, whatever is unknown.
    expect(() =>
      assertStorageWithinQuota("shop", "staging", { databaseBytes: null, filestoreBytes: null }, undefined),
    ).not.toThrow();
  });
});

describe("the CLI's storage line", () => {
  test("an unknown size is said, never shown as a pass", () => {
    const quota = { quotaBytes: 1024 ** 2, usedBytes: 0, exceeded: false };
    expect(storageQuotaText({ ...quota, unknown: "database size not known on host h1" })).toBe(
      "0 B of 1.0 MiB counted — database size not known on host h1: deploys are refused until it is measured",
    );
    expect(storageQuotaText({ ...quota, usedBytes: 2048, unknown: null })).toBe("2.0 KiB of 1.0 MiB");
    expect(storageQuotaText({ ...quota, usedBytes: 2 * 1024 ** 2, exceeded: true, unknown: null })).toBe(
      "2.0 MiB of 1.0 MiB — ABOVE THE QUOTA: deploys are refused",
    );
    expect(storageQuotaText({ ...quota, quotaBytes: null, unknown: "filestore size not known" })).toBe(
      "0 B (filestore size not known)",
    );
  });
});
