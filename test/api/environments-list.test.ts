import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { environments } from "../../src/env/env.sql";
import type { EnvSummary } from "../../src/env/schema";
import { openState } from "../../src/state/db";
import { makeTestApi } from "../support/api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
beforeAll(async () => {
  t = await makeTestApi();
});
afterAll(() => t.cleanup());

const list = async (q = "") => (await (await t.request(`/api/v1/environments${q}`)).json()) as EnvSummary[];

describe("GET /environments (cached read model)", () => {
  test("reflects writes through the daemon's connection and through any other connection", async () => {
    expect(await list()).toEqual([]);
    const created = await t.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: "shop", tier: "dev" }),
    });
    expect(created.status).toBe(202);
    expect((await list()).map((e) => [e.slug, e.status])).toEqual([["shop", "creating"]]);
    expect(await list("?tier=staging")).toEqual([]);

    // Another process (e.g. an admin with sqlite3) changes the row: the next read sees it.
    const other = openState(t.deps.paths.stateDb);
    other.update(environments).set({ status: "active" }).where(eq(environments.slug, "shop")).run();
    other.$client.close();
    expect((await list()).map((e) => e.status)).toEqual(["active"]);
    expect((await list("?tier=dev")).map((e) => e.status)).toEqual(["active"]);
  });
});
