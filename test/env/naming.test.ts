import { describe, expect, test } from "bun:test";
import { dbIdentifier, defaultDomain, slugify, validateBranch, validateDomain } from "../../src/env/naming";

describe("naming", () => {
  test("slugs are DNS labels", () => {
    expect(slugify("feature/crm-reports")).toBe("feature-crm-reports");
    expect(slugify("Shop_Staging.2")).toBe("shop-staging-2");
    expect(slugify("a".repeat(63))).toHaveLength(63);
  });

  test.each([
    ["x;rm -rf /"],
    ["../etc"],
    ["a..b"],
    ["-flag"],
    ["ｓhop"],
    ["shop\u200b"],
    ["name with space"],
    ["$(id)"],
    [""],
    ["a".repeat(64)],
  ])("rejects %p with a clear message", (name) => {
    expect(() => slugify(name)).toThrow(/environment name/);
  });

  test("branches follow git's rules", () => {
    expect(validateBranch("release/17.0")).toBe("release/17.0");
    for (const b of ["x;rm -rf /", "a..b", "-x", "a/", "a.lock", "a//b", ".hidden", "a b", "ü"])
      expect(() => validateBranch(b)).toThrow("invalid branch");
  });

  test("database identifiers stay within PostgreSQL's 63 bytes", () => {
    expect(dbIdentifier("shop-staging")).toBe("odoo_shop_staging");
    const long = dbIdentifier("a".repeat(63));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^odoo_a+_[0-9a-f]{8}$/);
  });

  test("domains", () => {
    expect(validateDomain("shop.example.com")).toBe("shop.example.com");
    expect(() => validateDomain("Shop.example.com")).toThrow("invalid domain");
    expect(() => validateDomain("localhost")).toThrow("invalid domain");
  });

  test("default domains: the tier's subdomain is not repeated by an env named after it", () => {
    expect(defaultDomain("shop", "staging", "example.com")).toBe("shop.staging.example.com");
    expect(defaultDomain("staging", "staging", "example.com")).toBe("staging.example.com");
    expect(defaultDomain("staging", "", "example.com")).toBe("staging.example.com");
    expect(defaultDomain("staging", "staging.eu", "example.com")).toBe("staging.staging.eu.example.com");
    expect(defaultDomain("dev", "staging", "example.com")).toBe("dev.staging.example.com");
  });
});
