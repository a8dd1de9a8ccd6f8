/** `odooops host add` flag handling through the real CLI (citty), before any connection is made. */
import { describe, expect, test } from "bun:test";
import { parseDestination, parseLabels } from "../../../src/cli/commands/host-add";
import { runCliWith } from "../../support/cli";

const noNetwork = async (): Promise<Response> => {
  throw new Error("no request expected");
};

describe("host add: flags", () => {
  test("destinations and labels", () => {
    expect(parseDestination("root@10.0.0.5")).toEqual({ username: "root", host: "10.0.0.5" });
    expect(parseDestination("10.0.0.5")).toEqual({ username: "root", host: "10.0.0.5" });
    expect(parseDestination("admin@[fd00::5]")).toEqual({ username: "admin", host: "fd00::5" });
    for (const bad of ["root@", "root@x;reboot", "-oProxyCommand=x", "a b@c"])
      expect(() => parseDestination(bad)).toThrow("expected root@ADDRESS");
    expect(parseLabels(["x", "--label", "region=eu", "--label=tier=prod", "--name", "n"])).toEqual({
      region: "eu",
      tier: "prod",
    });
    expect(() => parseLabels(["--label", "noequals"])).toThrow("expected key=value");
    expect(() => parseLabels(["--label", "k=$(id)"])).toThrow("expected key=value");
  });

  test("bad values are refused with exit 2 and nothing is contacted", async () => {
    for (const [argv, msg] of [
      [["host", "add", "root@10.0.0.5", "--fingerprint", "MD5:aa"], "--fingerprint MD5:aa"],
      [["host", "add", "root@10.0.0.5", "--port", "70000"], "--port 70000"],
      [["host", "add", "root@10.0.0.5", "--prefix", "opt"], "--prefix must be absolute"],
      [["host", "add", "root@10.0.0.5", "--label", "bad"], "expected key=value"],
      [["host", "add", "root@x;reboot"], "expected root@ADDRESS"],
    ] as const) {
      const r = await runCliWith([...argv], { fetch: noNetwork });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(msg);
    }
  });
});
