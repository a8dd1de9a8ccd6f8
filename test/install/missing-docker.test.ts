/**
 * docker.io (nginx and PostgreSQL: missing-packages.test.ts) on a bare Debian 12
 * host (bareHostForFile: nothing of the three installed, empty package lists). doctor names the
 * missing package in words while the package lists are empty (apt-get install would not find
 * it), then, after `apt-get update`, as `apt-get install -y PKG`; followHints runs each command
 * hint exactly as printed (argv, no shell) until the check passes, and the test asserts which
 * commands those were.
 */
import { expect, test } from "bun:test";
import { bareHostForFile, doctorCheck, followHints, ok } from "../support/install-container";

const host = bareHostForFile();

test("docker.io: words while the package lists are empty; after apt-get update `apt-get install -y docker.io`, then start-stop-daemon; the docker check passes", async () => {
  const before = await doctorCheck(host(), "docker");
  expect(before).toMatchObject({ status: "fail", message: "docker not found" });
  expect(before.command).toBeUndefined();
  expect(before.hint).toBe(
    "apt-get update, then apt-get install -y docker.io (this host's package lists do not offer docker.io yet)",
  );
  ok("apt-get update", await host().exec(["apt-get", "update", "-q"], { timeoutMs: 300_000 }));
  // No systemd: the package does not start the engine; the next hint does.
  expect(await followHints(host(), "docker")).toEqual([
    ["apt-get", "install", "-y", "docker.io"],
    ["start-stop-daemon", "--start", "--background", "--output", "/var/log/dockerd.log", "--exec", "/usr/sbin/dockerd"],
  ]);
}, 1_500_000);
