import { expect, test } from "bun:test";
import { globMatches, mapBranch, renderEnvName, ttlMs } from "../../src/policy/match";
import { parsePolicy } from "../../src/policy/schema";

test("release/* matches one path level only, never a prefix", () => {
  expect(globMatches("release/*", "release/1.0")).toBe(true);
  expect(globMatches("release/*", "release-x")).toBe(false);
  expect(globMatches("release/*", "release/a/b")).toBe(false);
  expect(globMatches("release/*", "xrelease/1")).toBe(false);
  expect(globMatches("release/**", "release/a/b")).toBe(true);
  expect(globMatches("main", "main")).toBe(true);
  expect(globMatches("main", "main2")).toBe(false);
  expect(globMatches("feature/{crm,sale}-*", "feature/sale-x")).toBe(true);
  expect(globMatches("feature/{crm,sale}-*", "feature/pos-x")).toBe(false);
});

const policy = parsePolicy(`
branch_mappings:
  - { pattern: main, tier: production, env: prod, auto_deploy: true }
  - { pattern: "release/*", tier: staging, env: "rel-{branch}", auto_deploy: true }
  - { pattern: "**", tier: dev }
`);

test("first matching rule wins, in file order", () => {
  expect(mapBranch(policy, "main")).toMatchObject({ index: 0, envName: "prod", rule: { tier: "production" } });
  expect(mapBranch(policy, "release/2.1")).toMatchObject({
    index: 1,
    envName: "rel-release/2.1",
    rule: { tier: "staging", auto_deploy: true },
  });
  expect(mapBranch(policy, "release-x")).toMatchObject({
    index: 2,
    envName: "release-x",
    rule: { tier: "dev", auto_deploy: false },
  });
  expect(mapBranch(policy, "release/a/b")?.index).toBe(2);
});

test("no rule, no target", () => {
  expect(mapBranch(parsePolicy("branch_mappings:\n  - { pattern: main, tier: dev }\n"), "develop")).toBeNull();
});

test("templates and TTLs", () => {
  expect(renderEnvName("pr-{number}", { branch: "x", number: 42 })).toBe("pr-42");
  expect(renderEnvName("{branch}-qa", { branch: "feature/a" })).toBe("feature/a-qa");
  expect(ttlMs("7d")).toBe(7 * 86_400_000);
  expect(ttlMs("12h")).toBe(12 * 3_600_000);
  expect(ttlMs("never")).toBeNull();
});
