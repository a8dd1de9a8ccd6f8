/** The verdicts of `health check`, from facts and a clock. */
import { describe, expect, test } from "bun:test";
import { ConfigSchema } from "../../src/config/schema";
import { backupMaxAgeMs, type EnvFacts, judgeEnv, worst } from "../../src/dr/health-check";

const now = new Date("2026-12-05T12:00:00Z");
const schedules = ConfigSchema.parse({}).backups.schedules; // production every 6 h, staging daily, dev none
const H = 3_600_000;
const base: EnvFacts = {
  slug: "shop",
  tier: "production",
  status: "active",
  http: { ok: true, detail: "HTTP 200" },
  newestBackupAt: new Date(now.getTime() - 2 * H).toISOString(),
  cert: { status: "valid", daysLeft: 60 },
  lastDeploy: { status: "success", release: 4 },
  lastDrTest: { outcome: "passed", finishedAt: new Date(now.getTime() - 50 * H).toISOString() },
};
const at = (hoursAgo: number) => new Date(now.getTime() - hoursAgo * H).toISOString();

describe("health verdicts", () => {
  test("all good is ok, with what was seen", () => {
    expect(judgeEnv(base, schedules, now)).toEqual({
      env: "shop",
      tier: "production",
      level: "ok",
      http: { level: "ok", text: "200 pass" },
      backup: { level: "ok", text: "2h ago" },
      cert: { level: "ok", text: "60d left" },
      deploy: { level: "ok", text: "success r4" },
      dr: { level: "ok", text: "passed 2d ago" },
    });
  });

  test("the last DR test: a failed one is red, an old or missing one warns for production only", () => {
    const dr = (lastDrTest: EnvFacts["lastDrTest"], tier: EnvFacts["tier"] = "production") =>
      judgeEnv({ ...base, tier, lastDrTest }, schedules, now);
    expect(dr({ outcome: "failed", finishedAt: at(3) })).toMatchObject({
      level: "red",
      dr: { level: "red", text: "failed 3h ago" },
    });
    expect(dr({ outcome: "passed", finishedAt: at(24 * 9) })).toMatchObject({
      level: "warn",
      dr: { level: "warn", text: "passed 9d ago" },
    });
    expect(dr({ outcome: "passed", finishedAt: at(24 * 9) }, "staging").dr).toEqual({
      level: "ok",
      text: "passed 9d ago",
    });
    expect(dr(null).dr).toEqual({ level: "warn", text: "never" });
    expect(dr(null, "dev").dr).toEqual({ level: "ok", text: "never" });
  });

  test("backup age against the tier's schedule: one missed run warns, two are red, none is red", () => {
    expect(backupMaxAgeMs("0 */6 * * *", now)).toBe(13 * H);
    expect(backupMaxAgeMs("", now)).toBeNull();
    expect(judgeEnv({ ...base, newestBackupAt: at(8) }, schedules, now).backup).toEqual({
      level: "warn",
      text: "8h ago (max 13h)",
    });
    expect(judgeEnv({ ...base, newestBackupAt: at(14) }, schedules, now)).toMatchObject({
      level: "red",
      backup: { level: "red", text: "14h ago (max 13h)" },
    });
    expect(judgeEnv({ ...base, newestBackupAt: null }, schedules, now).backup).toEqual({ level: "red", text: "none" });
    // A tier without a schedule: shown, never judged.
    expect(judgeEnv({ ...base, tier: "dev", newestBackupAt: null }, schedules, now).backup).toEqual({
      level: "ok",
      text: "none",
    });
    expect(judgeEnv({ ...base, tier: "dev", newestBackupAt: at(24 * 90) }, schedules, now).backup).toEqual({
      level: "ok",
      text: "90d ago",
    });
  });

  test("not answering through nginx, a failed env: red; a stopped env: warn", () => {
    expect(judgeEnv({ ...base, http: { ok: false, detail: "HTTP 502 Bad Gateway" } }, schedules, now)).toMatchObject({
      level: "red",
      http: { level: "red", text: "HTTP 502 Bad Gateway" },
    });
    expect(judgeEnv({ ...base, status: "failed", http: null }, schedules, now).http).toEqual({
      level: "red",
      text: "env failed",
    });
    expect(judgeEnv({ ...base, status: "stopped", http: null }, schedules, now)).toMatchObject({
      level: "warn",
      http: { level: "warn", text: "stopped" },
    });
  });

  test("certificates: missing, expired or < 7 days red; in the renewal window warn; none for the tier ok", () => {
    for (const status of ["missing", "expired", "unreadable"])
      expect(judgeEnv({ ...base, cert: { status, daysLeft: null } }, schedules, now).cert).toEqual({
        level: "red",
        text: status,
      });
    expect(judgeEnv({ ...base, cert: { status: "expiring", daysLeft: 6 } }, schedules, now).cert).toEqual({
      level: "red",
      text: "6d left",
    });
    expect(judgeEnv({ ...base, cert: { status: "expiring", daysLeft: 20 } }, schedules, now).cert).toEqual({
      level: "warn",
      text: "20d left",
    });
    expect(judgeEnv({ ...base, cert: null }, schedules, now).cert).toEqual({ level: "ok", text: "n/a" });
  });

  test("a failed last deploy warns (the previous release kept serving)", () => {
    expect(judgeEnv({ ...base, lastDeploy: { status: "failed", release: 5 } }, schedules, now)).toMatchObject({
      level: "warn",
      deploy: { level: "warn", text: "failed r5" },
    });
    expect(worst(["ok", "warn", "ok"])).toBe("warn");
    expect(worst(["warn", "red", "ok"])).toBe("red");
    expect(worst([])).toBe("ok");
  });
});
