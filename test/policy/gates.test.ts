import { expect, test } from "bun:test";
import { DEFAULT_POLICY } from "../../src/policy/defaults";
import { durationSec, planGates } from "../../src/policy/gates";
import { parsePolicy } from "../../src/policy/schema";

const on = { runTests: true, rehearse: true };
const off = { runTests: false, rehearse: false };

test("durations: s, m, h, d", () => {
  expect(durationSec("90s")).toBe(90);
  expect(durationSec("30m")).toBe(1800);
  expect(durationSec("12h")).toBe(43_200);
  expect(durationSec("7d")).toBe(604_800);
  expect(() => durationSec("0s")).toThrow();
});

test("no gates declared: tests and rehearsal follow deploy.runTests / deploy.rehearse and block when they fail", () => {
  const policy = parsePolicy("ttl_policies: { dev: 3d }\n");
  expect(planGates(policy, "dev", on, "repo")).toEqual({
    tier: "dev",
    source: "repo",
    tests: { run: true, required: true, command: null },
    migrations: { run: true, required: true, sizeCapped: true, neutralize: false },
    approval: null,
    smoke: null,
  });
  expect(planGates(policy, "dev", off, "repo")).toMatchObject({ tests: { run: false }, migrations: { run: false } });
});

test("declared gates run whatever the settings; required ones are not size-capped; production rehearses on a neutralized copy", () => {
  const policy = parsePolicy(`
health_gates:
  production:
    tests: { command: [pytest, -q] }
    migrations: {}
    manual_approval: { timeout: 2h }
    smoke_tests: { required: false, command: [python3, smoke.py] }
  staging:
    migrations: { required: false }
`);
  expect(planGates(policy, "production", off, "repo")).toEqual({
    tier: "production",
    source: "repo",
    tests: { run: true, required: true, command: ["pytest", "-q"] },
    migrations: { run: true, required: true, sizeCapped: false, neutralize: true },
    approval: { required: true, timeoutSec: 7200 },
    smoke: { required: false, command: ["python3", "smoke.py"] },
  });
  expect(planGates(policy, "staging", off, "repo").migrations).toEqual({
    run: true,
    required: false,
    sizeCapped: true,
    neutralize: false,
  });
  expect(planGates(policy, "dev", off, "repo")).toMatchObject({ tests: { run: false }, approval: null, smoke: null });
});

test("the server default: production is tested and rehearsed on a neutralized copy, no approval; dev has no gates of its own", () => {
  expect(planGates(DEFAULT_POLICY, "production", on, "default")).toMatchObject({
    source: "default",
    tests: { run: true, required: true },
    migrations: { run: true, required: true, sizeCapped: false, neutralize: true },
    approval: null,
    smoke: null,
  });
  expect(planGates(DEFAULT_POLICY, "dev", off, "default")).toMatchObject({
    tests: { run: false },
    migrations: { run: false },
    approval: null,
  });
});

test("gate keys are checked: a command must be a non-empty argv list, a timeout a duration", () => {
  expect(() => parsePolicy("health_gates:\n  dev:\n    smoke_tests: { command: 'curl -f $URL' }\n")).toThrow(
    /policies\.yaml:3: health_gates\.dev\.smoke_tests\.command/,
  );
  expect(() => parsePolicy("health_gates:\n  dev:\n    smoke_tests: { command: [] }\n")).toThrow(
    /health_gates\.dev\.smoke_tests\.command/,
  );
  expect(() => parsePolicy("health_gates:\n  dev:\n    manual_approval: { timeout: 1w }\n")).toThrow(
    /policies\.yaml:3: health_gates\.dev\.manual_approval\.timeout/,
  );
  expect(() => parsePolicy("health_gates:\n  dev:\n    tests: { requried: true }\n")).toThrow(
    /policies\.yaml:3: health_gates\.dev\.tests\.requried/,
  );
});
