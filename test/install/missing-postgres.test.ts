/**
 * PostgreSQL (nginx: missing-packages.test.ts, docker.io: missing-docker.test.ts) on a bare Debian 12
 * container (no docker, PostgreSQL or nginx, and empty package lists, as a fresh
 * minimal image has; the .deb files are in apt's cache, APT_CACHE_IMAGE, so
 * that the run does not depend on the mirror's speed) with odooops installed by install.sh. doctor names the
 * missing packages: in words while the package lists are empty (apt-get install would not find
 * them), then, after `apt-get update`, as `apt-get install -y PKG`. The test follows each check's
 * command hints exactly as printed (argv, no shell) until the check passes, and asserts which
 * commands those were. The Debian mirror is the one the base image uses.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { removeByLabel, testLabel } from "../support/docker";
import {
  binarySnapshot,
  ensureAptCacheImage,
  INSTALL_SH,
  type Result,
  TestContainer,
} from "../support/install-container";
import { removeTempDir } from "../support/tmp";

const label = testLabel();
let bin: { dir: string; binary: string; version: string } | undefined;
let c: TestContainer | undefined;

interface Report {
  ok: boolean;
  checks: { id: string; status: string; message: string; hint?: string; command?: string[] }[];
}

beforeAll(async () => {
  bin = await binarySnapshot();
  // engine: docker.io's postinst starts dockerd, which needs the capabilities of a host.
  c = await TestContainer.start({
    image: await ensureAptCacheImage(),
    engine: true,
    mounts: [
      [INSTALL_SH, "/install.sh"],
      [bin.binary, "/tmp/odooops"],
    ],
    labels: label.labels,
  });
  ok("install.sh", await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops"], { timeoutMs: 120_000 }));
}, 900_000);

afterAll(async () => {
  await c?.remove();
  await removeByLabel(`${label.key}=${label.value}`);
  if (bin) removeTempDir(bin.dir);
}, 120_000);

function ok(what: string, r: Result): Result {
  if (r.code !== 0)
    throw new Error(`${what} failed (exit ${r.code}):\n${r.stdout.slice(-6000)}\n${r.stderr.slice(-6000)}`);
  return r;
}

async function doctor(): Promise<Report> {
  const r = await c!.exec(["odooops", "doctor", "--json"], { timeoutMs: 300_000 });
  try {
    return JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`doctor printed no report (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  }
}

function check(report: Report, id: string): Report["checks"][number] {
  const found = report.checks.find((x) => x.id === id);
  if (!found) throw new Error(`no check ${id}`);
  return found;
}

/**
 * Runs `id`'s command hints as printed until it passes (at most `max`); returns the commands run.
 * A command that starts something in the background (dockerd) takes effect a moment later: while
 * doctor still gives the same command, it is asked again before anything else is run.
 */
async function followHints(id: string, max = 4): Promise<string[][]> {
  const ran: string[][] = [];
  let r = check(await doctor(), id);
  while (r.status !== "pass") {
    if (!r.command || ran.length === max)
      throw new Error(`${id}: ${r.status} ${r.message}; hint ${r.hint ?? "none"} after ${JSON.stringify(ran)}`);
    const command = r.command;
    ran.push(command);
    const out = ok(command.join(" "), await c!.exec(command, { timeoutMs: 600_000 }));
    console.log(`${id}: ${command.join(" ")}\n${(out.stdout + out.stderr).slice(-1500)}`);
    r = check(await doctor(), id);
    for (let i = 0; i < 30 && r.status !== "pass" && JSON.stringify(r.command) === JSON.stringify(command); i++) {
      await Bun.sleep(1000);
      r = check(await doctor(), id);
    }
  }
  return ran;
}

test("postgresql: after apt-get update `apt-get install -y postgresql`, then the next hints until the postgres check passes", async () => {
  ok("apt-get update", await c!.exec(["apt-get", "update", "-q"], { timeoutMs: 300_000 }));
  // Without systemd nothing starts the service after the install: the next hints do.
  expect(await followHints("postgres")).toEqual([
    ["apt-get", "install", "-y", "postgresql"],
    ["pg_ctlcluster", "15", "main", "start"],
    ["odooops", "init", "--yes"],
  ]);
}, 1_500_000);
