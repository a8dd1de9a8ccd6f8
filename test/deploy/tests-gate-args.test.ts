import { describe, expect, test } from "bun:test";
import { testsGateArgs } from "../../src/deploy/tests-gate";

describe("tests gate argv", () => {
  test("installs the repository's modules and selects only their tests (dependencies installed untested)", () => {
    expect(testsGateArgs(["shop_extra", "shop_report"])).toEqual([
      "-i",
      "shop_extra,shop_report",
      "--test-tags",
      "/shop_extra,/shop_report",
    ]);
    expect(testsGateArgs(["one"])).toEqual(["-i", "one", "--test-tags", "/one"]);
  });
});
