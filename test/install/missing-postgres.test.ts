/**
 * PostgreSQL (nginx: missing-packages.test.ts, docker.io: missing-docker.test.ts) on a bare Debian 12
 * host (bareHostForFile: nothing of the three installed, empty package lists). doctor names the
 * missing package in words while the package lists are empty (apt-get install would not find
 * it), then, after `apt-get update`, as `apt-get install -y PKG`; followHints runs each command
 * hint exactly as printed (argv, no shell) until the check passes, and the test asserts which
 * commands those were.
 */
import { expect, test } from "bun:test";
import { bareHostForFile, followHints, ok } from "../support/install-container";

const host = bareHostForFile();

test("postgresql: after apt-get update `apt-get install -y postgresql`, then the next hints until the postgres check passes", async () => {
  ok("apt-get update", await host().exec(["apt-get", "update", "-q"], { timeoutMs: 300_000 }));
  // Without systemd nothing starts the service after the install: the next hints do.
  expect(await followHints(host(), "postgres")).toEqual([
    ["apt-get", "install", "-y", "postgresql"],
    ["pg_ctlcluster", "15", "main", "start"],
    ["odooops", "init", "--yes"],
  ]);
}, 1_500_000);
