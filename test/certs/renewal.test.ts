import { describe, expect, test } from "bun:test";
import { daysLeft, domainsToRenew, needsRenewal, planRenewals, sanCovers, type RenewalInput } from "../../src/certs";

const now = new Date("2026-03-01T12:00:00Z");
const inDays = (d: number) => new Date(now.getTime() + d * 86_400_000);

describe("needsRenewal", () => {
  test("renews below the threshold, not at or above it", () => {
    expect(needsRenewal({ notAfter: inDays(60) }, now)).toBe(false);
    expect(needsRenewal({ notAfter: inDays(30) }, now)).toBe(false);
    expect(needsRenewal({ notAfter: new Date(inDays(30).getTime() - 1) }, now)).toBe(true);
    expect(needsRenewal({ notAfter: inDays(29) }, now)).toBe(true);
    expect(needsRenewal({ notAfter: inDays(-1) }, now)).toBe(true);
  }, 5_000);

  test("custom threshold", () => {
    expect(needsRenewal({ notAfter: inDays(20) }, now, 14)).toBe(false);
    expect(needsRenewal({ notAfter: inDays(13) }, now, 14)).toBe(true);
  }, 5_000);

  test("daysLeft counts whole days, negative once expired", () => {
    expect(daysLeft({ notAfter: inDays(10.5) }, now)).toBe(10);
    expect(daysLeft({ notAfter: inDays(-2) }, now)).toBe(-2);
  }, 5_000);
});

describe("sanCovers", () => {
  test("exact names and single-label wildcards", () => {
    expect(sanCovers(["shop.example.com"], "shop.example.com")).toBe(true);
    expect(sanCovers(["*.example.com"], "shop.example.com")).toBe(true);
    expect(sanCovers(["*.example.com"], "a.shop.example.com")).toBe(false);
    expect(sanCovers(["*.example.com"], "example.com")).toBe(false);
    expect(sanCovers(["other.example.com"], "shop.example.com")).toBe(false);
    expect(sanCovers([], "shop.example.com")).toBe(false);
  }, 5_000);
});

describe("planRenewals", () => {
  const sans = (d: string) => [d];
  const items: RenewalInput[] = [
    { domain: "fresh.example.com", info: { notAfter: inDays(80), sans: sans("fresh.example.com") }, source: "acme" },
    { domain: "due.example.com", info: { notAfter: inDays(12), sans: sans("due.example.com") }, source: "acme" },
    {
      domain: "expired.example.com",
      info: { notAfter: inDays(-3), sans: sans("expired.example.com") },
      source: "acme",
    },
    { domain: "new.example.com", info: null },
    { domain: "renamed.example.com", info: { notAfter: inDays(70), sans: ["old.example.com"] }, source: "acme" },
    { domain: "byo.example.com", info: { notAfter: inDays(5), sans: ["*.example.com"] }, source: "imported" },
    { domain: "byo-ok.example.com", info: { notAfter: inDays(200), sans: ["*.example.com"] }, source: "imported" },
  ];

  test("decides per domain, most urgent first", () => {
    const plan = planRenewals(items, now);
    expect(plan.map((d) => [d.domain, d.action])).toEqual([
      ["new.example.com", "renew"],
      ["expired.example.com", "renew"],
      ["byo.example.com", "manual"],
      ["due.example.com", "renew"],
      ["renamed.example.com", "renew"],
      ["fresh.example.com", "keep"],
      ["byo-ok.example.com", "keep"],
    ]);
    expect(plan.find((d) => d.domain === "due.example.com")?.reason).toBe("expires in 12 day(s) (renewing below 30)");
    expect(plan.find((d) => d.domain === "renamed.example.com")?.reason).toBe("certificate does not cover the domain");
    expect(plan.find((d) => d.domain === "byo.example.com")?.reason).toContain("import a new one");
    expect(domainsToRenew(plan)).toEqual([
      "new.example.com",
      "expired.example.com",
      "due.example.com",
      "renamed.example.com",
    ]);
  }, 5_000);

  test("force renews valid ACME certificates but never replaces imported ones", () => {
    expect(domainsToRenew(planRenewals(items, now, { force: true }))).toContain("fresh.example.com");
    expect(domainsToRenew(planRenewals(items, now, { force: true }))).not.toContain("byo-ok.example.com");
    const some = planRenewals(items, now, { force: ["fresh.example.com"] });
    expect(some.find((d) => d.domain === "fresh.example.com")?.reason).toBe("forced");
    expect(domainsToRenew(planRenewals(items, now, { days: 10 }))).toEqual([
      "new.example.com",
      "expired.example.com",
      "renamed.example.com",
    ]);
  }, 5_000);

  test("empty input, empty plan", () => {
    expect(planRenewals([], now)).toEqual([]);
  }, 5_000);
});
