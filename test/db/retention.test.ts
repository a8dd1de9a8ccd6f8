import { describe, expect, test } from "bun:test";
import { explainRetention, planRetention, type RetentionBackup } from "../../src/db/backup/retention";

const b = (id: string, createdAt: string, status: RetentionBackup["status"] = "completed"): RetentionBackup => ({
  id,
  createdAt,
  status,
});

// Saturday 15 March 2025, noon UTC. ISO week starts Monday 10 March.
const NOW = new Date("2025-03-15T12:00:00Z");
const HISTORY: RetentionBackup[] = [
  b("a", "2025-03-15T06:00:00Z"),
  b("b", "2025-03-15T00:30:00Z"),
  b("c", "2025-03-14T06:00:00Z"),
  b("d", "2025-03-13T06:00:00Z"),
  b("e", "2025-03-12T06:00:00Z"),
  b("f", "2025-03-09T06:00:00Z"),
  b("g", "2025-03-05T06:00:00Z"),
  b("h", "2025-02-20T06:00:00Z"),
  b("i", "2025-01-10T06:00:00Z"),
  b("j", "2025-03-14T12:00:00Z", "failed"),
  b("k", "2025-03-01T06:00:00Z", "failed"),
  b("l", "2025-03-15T11:00:00Z", "running"),
  b("m", "2025-01-05T06:00:00Z"),
  b("n", "2025-01-01T06:00:00Z", "expired"),
];

describe("planRetention (GFS, UTC calendar windows)", () => {
  test("exact deletions for daily 3 / weekly 2 / monthly 2, oldest first", () => {
    expect(planRetention(HISTORY, { daily: 3, weekly: 2, monthly: 2 }, NOW, ["m"])).toEqual(["i", "k", "g", "e", "b"]);
  });

  test("reasons and expiry dates", () => {
    const byId = Object.fromEntries(
      explainRetention(HISTORY, { daily: 3, weekly: 2, monthly: 2 }, NOW, ["m"]).map((d) => [d.id, d]),
    );
    expect(byId.a).toEqual({ id: "a", keep: true, reasons: ["newest", "daily", "weekly", "monthly"], expiresAt: null });
    expect(byId.c).toEqual({ id: "c", keep: true, reasons: ["daily"], expiresAt: "2025-03-17T00:00:00.000Z" });
    expect(byId.d).toEqual({ id: "d", keep: true, reasons: ["daily"], expiresAt: "2025-03-16T00:00:00.000Z" });
    expect(byId.f).toEqual({ id: "f", keep: true, reasons: ["weekly"], expiresAt: "2025-03-17T00:00:00.000Z" });
    expect(byId.h).toEqual({ id: "h", keep: true, reasons: ["monthly"], expiresAt: "2025-04-01T00:00:00.000Z" });
    expect(byId.j).toEqual({ id: "j", keep: true, reasons: ["failed-recent"], expiresAt: "2025-03-17T00:00:00.000Z" });
    expect(byId.l).toEqual({ id: "l", keep: true, reasons: ["running"], expiresAt: null });
    expect(byId.m).toEqual({ id: "m", keep: true, reasons: ["protected"], expiresAt: null });
    expect(byId.n).toEqual({ id: "n", keep: false, reasons: [], expiresAt: null });
    expect(byId.b).toEqual({ id: "b", keep: false, reasons: [], expiresAt: null });
  });

  test("a zero policy still keeps the newest good backup, protected, running and future ones", () => {
    const extra = [...HISTORY, b("z", "2025-03-16T00:00:00Z")];
    expect(planRetention(extra, { daily: 0, weekly: 0, monthly: 0 }, NOW, ["g"])).toEqual([
      "m",
      "i",
      "h",
      "k",
      "f",
      "e",
      "d",
      "c",
      "j",
      "b",
    ]);
  });

  test("the newest good backup survives even when older than every window", () => {
    const old = [
      b("old", "2024-01-01T00:00:00Z"),
      b("older", "2023-06-01T00:00:00Z"),
      b("f1", "2025-03-15T01:00:00Z", "failed"),
    ];
    expect(planRetention(old, { daily: 7, weekly: 4, monthly: 3 }, NOW)).toEqual(["older"]);
    // The failed backup is newer than the newest good one: kept (its local copy may matter).
    expect(explainRetention(old, { daily: 0, weekly: 0, monthly: 0 }, NOW).find((d) => d.id === "f1")?.reasons).toEqual(
      ["failed-recent"],
    );
  });

  test("last N keeps the N newest good ones; ties are ordered by id, not input order", () => {
    const same = [b("x2", "2025-03-10T00:00:00Z"), b("x1", "2025-03-10T00:00:00Z"), b("x3", "2025-03-09T00:00:00Z")];
    expect(planRetention(same, { daily: 0, weekly: 0, monthly: 0, last: 2 }, NOW)).toEqual(["x3"]);
    expect(planRetention([...same].reverse(), { daily: 1, weekly: 0, monthly: 0 }, NOW)).toEqual(["x3", "x1"]);
  });

  test("100 days of nightly backups, retention after each: exactly 7 daily + 4 weekly + 3 monthly keepers", () => {
    const policy = { daily: 7, weekly: 4, monthly: 3 };
    const start = Date.parse("2025-01-01T02:00:00Z");
    let kept: RetentionBackup[] = [];
    const all: RetentionBackup[] = [];
    let now = new Date(start);
    for (let day = 0; day < 100; day++) {
      const created = new Date(start + day * 86_400_000);
      const backup = b(created.toISOString().slice(0, 10), created.toISOString());
      kept.push(backup);
      all.push(backup);
      now = new Date(created.getTime() + 3_600_000);
      const del = new Set(planRetention(kept, policy, now));
      kept = kept.filter((k) => !del.has(k.id));
    }
    const expected = [
      "2025-02-28", // monthly: February
      "2025-03-23", // weekly: 17–23 March
      "2025-03-30", // weekly: 24–30 March
      "2025-03-31", // monthly: March
      "2025-04-04",
      "2025-04-05",
      "2025-04-06", // daily + weekly: 31 March – 6 April
      "2025-04-07",
      "2025-04-08",
      "2025-04-09",
      "2025-04-10", // newest, daily, weekly, monthly
    ];
    expect(kept.map((k) => k.id).sort()).toEqual(expected);
    // Applying the policy once to the whole history gives the same set.
    const once = new Set(planRetention(all, policy, now));
    expect(
      all
        .filter((k) => !once.has(k.id))
        .map((k) => k.id)
        .sort(),
    ).toEqual(expected);
    expect(explainRetention(kept, policy, now).find((d) => d.id === "2025-02-28")).toEqual({
      id: "2025-02-28",
      keep: true,
      reasons: ["monthly"],
      expiresAt: "2025-05-01T00:00:00.000Z",
    });
  });
});
