/**
 * nginx (PostgreSQL and docker.io: missing-postgres.test.ts, missing-docker.test.ts, each a file
 * of its own for time) on a bare Debian 12
 * host (bareHostForFile: nothing of the three installed, empty package lists). doctor names the
 * missing package in words while the package lists are empty (apt-get install would not find
 * it), then, after `apt-get update`, as `apt-get install -y PKG`; followHints runs each command
 * hint exactly as printed (argv, no shell) until the check passes, and the test asserts which
 * commands those were.
 */
import { expect, test } from "bun:test";
import { bareHostForFile, checkIn, doctorReport, followHints, ok } from "../support/install-container";

const host = bareHostForFile();

const MISSING: [string, string, string][] = [
  ["docker", "docker.io", "docker not found"],
  ["nginx", "nginx", "nginx not found"],
  ["postgres", "postgresql", "cannot connect to /var/run/postgresql/.s.PGSQL.5432 as postgres"],
];

test("not installed, empty package lists: doctor says apt-get update first, in words", async () => {
  const report = await doctorReport(host());
  for (const [id, pkg, message] of MISSING) {
    const r = checkIn(report, id);
    expect(r.status).toBe("fail");
    expect(r.message).toStartWith(message);
    expect(r.command).toBeUndefined();
    expect(r.hint).toBe(
      `apt-get update, then apt-get install -y ${pkg} (this host's package lists do not offer ${pkg} yet)`,
    );
  }
}, 600_000);

test("after apt-get update: `apt-get install -y nginx`, then the next hints until the nginx check passes", async () => {
  ok("apt-get update", await host().exec(["apt-get", "update", "-q"], { timeoutMs: 300_000 }));
  const report = await doctorReport(host());
  for (const [id, pkg] of MISSING) expect(checkIn(report, id).command).toEqual(["apt-get", "install", "-y", pkg]);
  // Without systemd nothing starts nginx after the install; init --yes includes odooops' vhosts.
  expect(await followHints(host(), "nginx")).toEqual([
    ["apt-get", "install", "-y", "nginx"],
    ["nginx"],
    ["odooops", "init", "--yes"],
  ]);
}, 1_500_000);
