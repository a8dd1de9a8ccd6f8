import { expect, test } from "bun:test";
import { DEFAULT_POLICY } from "../../src/policy/defaults";
import { formatPath, parsePolicy } from "../../src/policy/schema";

const FULL = `
branch_mappings:
  - pattern: main
    tier: production
    env: prod
    auto_deploy: true
  - pattern: "release/*"
    tier: staging
    env: "{branch}"
    auto_deploy: true
  - pattern: "*"
    tier: dev
health_gates:
  production:
    tests: { required: true }
    migrations: {}
    manual_approval: { timeout: 12h }
    smoke_tests: { command: ["curl", "-f", "{url}/web/login"], required: false }
resource_quotas:
  staging: { workers: 2, cpu: 1.5, memory: 2g, storage: 20g }
ttl_policies:
  dev_ephemeral: 7d
  dev: 14d
  production: never
`;

function errorOf(text: string): string {
  try {
    parsePolicy(text);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  throw new Error("expected the policy to be rejected");
}

test("a full policy parses with defaults filled in", () => {
  const p = parsePolicy(FULL);
  expect(p.branch_mappings.map((m) => [m.pattern, m.tier, m.env, m.auto_deploy])).toEqual([
    ["main", "production", "prod", true],
    ["release/*", "staging", "{branch}", true],
    ["*", "dev", "{branch}", false],
  ]);
  expect(p.health_gates.production?.manual_approval).toEqual({ required: true, timeout: "12h" });
  expect(p.health_gates.production?.migrations).toEqual({ required: true });
  expect(p.health_gates.production?.smoke_tests?.required).toBe(false);
  expect(p.resource_quotas.staging).toEqual({ workers: 2, cpu: 1.5, memory: "2g", storage: "20g" });
  expect(p.ttl_policies).toEqual({ dev_ephemeral: "7d", dev: "14d", production: "never" });
});

test("an empty file is the empty policy", () => {
  expect(parsePolicy("").branch_mappings).toEqual([]);
  expect(parsePolicy("# nothing yet\n").ttl_policies).toEqual({});
});

test("errors name the file, the line and the exact key path", () => {
  const text =
    "branch_mappings:\n  - pattern: a\n    tier: dev\n  - pattern: b\n    tier: dev\n  - pattern: 7\n    tier: dev\n";
  expect(errorOf(text)).toMatch(/^invalid policy: \.odooops\/policies\.yaml:6: branch_mappings\[2\]\.pattern: /);
});

test("unknown keys are errors naming the key, also nested ones", () => {
  expect(errorOf("branch_mapping: []\n")).toContain(".odooops/policies.yaml:1: branch_mapping: ");
  expect(errorOf("health_gates:\n  staging:\n    test: {}\n")).toContain(":3: health_gates.staging.test: ");
  expect(errorOf("resource_quotas:\n  qa: { workers: 1 }\n")).toContain("resource_quotas.qa");
});

test("bad values: tier, TTL, size, template placeholders", () => {
  expect(errorOf("branch_mappings:\n  - { pattern: x, tier: prod }\n")).toContain(":2: branch_mappings[0].tier: ");
  expect(errorOf("ttl_policies:\n  dev: 7 days\n")).toContain(":2: ttl_policies.dev: ");
  expect(errorOf("ttl_policies:\n  dev: 0d\n")).toContain("ttl_policies.dev");
  expect(errorOf("resource_quotas:\n  dev: { memory: lots }\n")).toContain(":2: resource_quotas.dev.memory: ");
  expect(errorOf("branch_mappings:\n  - { pattern: x, tier: dev, env: 'pr-{num}' }\n")).toContain(
    "branch_mappings[0].env: only {branch} and {number}",
  );
  expect(errorOf("branch_mappings:\n  - { tier: dev }\n")).toContain(":2: branch_mappings[0].pattern: ");
});

test("invalid YAML names the line", () => {
  expect(errorOf("branch_mappings:\n  - pattern: [unclosed\n    tier: dev\n")).toMatch(
    /^invalid YAML in \.odooops\/policies\.yaml:\d+: /,
  );
  expect(errorOf("ttl_policies:\n  dev: 7d\n  dev: 14d\n")).toContain("policies.yaml:3");
});

test("formatPath renders indices and keys", () => {
  expect(formatPath(["branch_mappings", 2, "pattern"])).toBe("branch_mappings[2].pattern");
  expect(formatPath(["a", "b"])).toBe("a.b");
  expect(formatPath([])).toBe("");
});

test("server defaults", () => {
  expect(DEFAULT_POLICY.branch_mappings).toEqual([]);
  expect(DEFAULT_POLICY.ttl_policies.dev_ephemeral).toBe("7d");
  expect(DEFAULT_POLICY.health_gates.production).toEqual({ tests: { required: true }, migrations: { required: true } });
});
