/** The service report from facts: availability against 99.5 %, deploy success against 98 %, p95, backups. */
import { describe, expect, test } from "bun:test";
import { buildReport, p95 } from "../../src/report/report";
import { hourOf } from "../../src/report/uptime";

const since = "2026-11-05T00:00:00.000Z";
const until = "2026-12-05T00:00:00.000Z";
const env = (id: string, tier = "production") => ({ id, slug: id, tier, status: "active" });
const deploy = (envId: string, status: "success" | "failed", seconds: number) => ({
  envId,
  kind: "deploy" as const,
  status,
  createdAt: "2026-12-01T10:00:00.000Z",
  finishedAt: new Date(Date.parse("2026-12-01T10:00:00.000Z") + seconds * 1000).toISOString(),
});

describe("service report", () => {
  test("availability per env and over production, against 99.5 %", () => {
    const r = buildReport({
      since,
      until,
      envs: [env("shop"), env("b2b"), env("stage", "staging"), env("idle", "dev")],
      uptime: [
        { envId: "shop", probes: 43_200, failures: 30, lastFailure: "2026-12-01T03:00:00.000Z HTTP 502" },
        { envId: "b2b", probes: 43_200, failures: 400, lastFailure: null },
        { envId: "stage", probes: 1_000, failures: 0, lastFailure: null },
      ],
      deployments: [],
      backups: [],
    });
    expect(r.envs.map((e) => [e.env, e.availability, e.met])).toEqual([
      ["shop", 99.931, true],
      ["b2b", 99.074, false],
      ["stage", 100, true],
    ]);
    // An env with nothing in the window says nothing.
    expect(r.envs.find((e) => e.env === "idle")).toBeUndefined();
    expect(r.production).toEqual({ probes: 86_400, failures: 430, availability: 99.502, met: true });
    expect(r.envs[0]!.lastFailure).toBe("2026-12-01T03:00:00.000Z HTTP 502");
  });

  test("deployment success rate against 98 %, p95 of the successful ones, backups", () => {
    const deployments = [
      ...Array.from({ length: 48 }, (_, i) => deploy("shop", "success", 100 + i)),
      deploy("shop", "failed", 30),
      deploy("b2b", "failed", 40),
    ];
    const r = buildReport({
      since,
      until,
      envs: [env("shop"), env("b2b")],
      uptime: [],
      deployments,
      backups: [{ envId: "shop", completed: 119, failed: 1 }],
    });
    expect(r.deployments).toEqual({ succeeded: 48, failed: 2, successRate: 96, met: false, p95Seconds: 145 });
    expect(r.backups).toEqual({ completed: 119, failed: 1, successRate: 99.167 });
    expect(r.envs.map((e) => [e.env, e.deploys, e.backups, e.availability, e.met])).toEqual([
      ["shop", { succeeded: 48, failed: 1 }, { completed: 119, failed: 1 }, null, null],
      ["b2b", { succeeded: 0, failed: 1 }, { completed: 0, failed: 0 }, null, null],
    ]);
    expect(r.production.availability).toBeNull();
  });

  test("nothing measured: nulls, not 100 %", () => {
    const r = buildReport({ since, until, envs: [], uptime: [], deployments: [], backups: [] });
    expect(r.deployments).toMatchObject({ successRate: null, met: null, p95Seconds: null });
    expect(r.backups.successRate).toBeNull();
    expect(r.production).toEqual({ probes: 0, failures: 0, availability: null, met: null });
  });

  test("p95 is nearest-rank; hours are UTC hour starts", () => {
    expect(p95([])).toBeNull();
    expect(p95([7])).toBe(7);
    expect(p95(Array.from({ length: 20 }, (_, i) => i + 1))).toBe(19);
    expect(p95(Array.from({ length: 21 }, (_, i) => 21 - i))).toBe(20);
    expect(hourOf(new Date("2026-12-05T06:59:59.999Z"))).toBe("2026-12-05T06:00:00.000Z");
  });
});
