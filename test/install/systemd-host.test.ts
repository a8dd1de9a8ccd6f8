/**
 * A Debian 12 host where systemd is PID 1 and runs nginx, PostgreSQL and docker (SYSTEMD_IMAGE,
 * booted in a container with its own docker engine inside; nothing is shared with this machine):
 * install.sh with the built binary; `odooops init --yes` enables and starts the units that were
 * stopped or disabled; then each `systemctl …` hint doctor gives when one of them is stopped is
 * run exactly as printed (argv, no shell) and that check passes again; so is the restart hint for
 * migrations pending after install.sh put a newer binary under the running daemon. A second container of the
 * same image without systemd (PID 1 is `sleep`) runs the docker engine's other hint,
 * start-stop-daemon.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { removeByLabel, testLabel } from "../support/docker";
import {
  binarySnapshot,
  binaryWithNewerMigration,
  doctorCheck as check,
  ensureSystemdImage,
  installedContainer,
  ok,
  type TestContainer,
} from "../support/install-container";
import { removeTempDir } from "../support/tmp";

const label = testLabel();
let bin: { dir: string; binary: string; version: string } | undefined;
let image: string;
const containers: TestContainer[] = [];
const tempDirs: string[] = [];

beforeAll(async () => {
  bin = await binarySnapshot();
  tempDirs.push(bin.dir);
  image = await ensureSystemdImage();
}, 900_000);

afterAll(async () => {
  for (const c of containers) await c.remove();
  await removeByLabel(`${label.key}=${label.value}`);
  for (const dir of tempDirs) removeTempDir(dir);
}, 120_000);

/** A container of SYSTEMD_IMAGE with odooops installed by install.sh. */
async function host(boot: boolean): Promise<TestContainer> {
  const c = await installedContainer({ image, boot, engine: true, labels: label.labels }, bin!.binary);
  containers.push(c);
  return c;
}

const SERVICES = ["docker.service", "nginx.service", "postgresql.service"];

describe("systemd as PID 1", () => {
  let c: TestContainer;

  beforeAll(async () => {
    c = await host(true);
  }, 600_000);

  test("init --yes enables and starts docker, nginx and PostgreSQL: stopped and disabled, or running but disabled", async () => {
    // docker.socket too: it would start the engine again on the first `docker` command.
    ok(
      "stop and disable",
      await c.exec(["systemctl", "disable", "--now", "docker.service", "docker.socket", "postgresql.service"]),
    );
    ok("disable nginx", await c.exec(["systemctl", "disable", "nginx.service"]));
    expect((await c.exec(["systemctl", "is-active", ...SERVICES])).stdout).toBe("inactive\nactive\ninactive\n");
    expect((await c.exec(["systemctl", "is-enabled", ...SERVICES])).stdout).toBe("disabled\ndisabled\ndisabled\n");

    const init = ok(
      "odooops init",
      await c.exec(["odooops", "init", "--yes", "--base-domain", "acme.test", "--acme-ca", "none"], {
        timeoutMs: 300_000,
      }),
    );
    const said = init.stdout + init.stderr;
    expect(said).toContain("enabled and started docker.service");
    expect(said).toContain("enabled nginx.service (it was running)");
    expect(said).toContain("enabled and started postgresql.service");
    expect(said).toContain("odooops.service started");

    expect((await c.exec(["systemctl", "is-active", ...SERVICES, "odooops.service"])).stdout).toBe(
      "active\nactive\nactive\nactive\n",
    );
    expect((await c.exec(["systemctl", "is-enabled", ...SERVICES, "odooops.service"])).stdout).toBe(
      "enabled\nenabled\nenabled\nenabled\n",
    );
    // The cluster itself, not only the unit that groups the clusters.
    expect(await c.sh("pg_lsclusters --no-header")).toContain("online");
    // A second run finds nothing to start.
    const again = ok(
      "odooops init again",
      await c.exec(["odooops", "init", "--yes", "--base-domain", "acme.test", "--acme-ca", "none"], {
        timeoutMs: 300_000,
      }),
    );
    expect(again.stdout + again.stderr).not.toContain(".service (it was running)");
    expect(again.stdout + again.stderr).not.toContain("enabled and started");
  }, 900_000);

  /** `condition` stops a service; doctor fails `id` with `command`; the command runs; `id` passes. */
  async function hintFixes(id: string, condition: string[], command: string[]): Promise<void> {
    ok(condition.join(" "), await c.exec(condition));
    const before = await check(c, id);
    expect(before.status).toBe("fail");
    expect(before.command).toEqual(command);
    ok("the hint", await c.exec(before.command!, { timeoutMs: 300_000 }));
    const after = await check(c, id);
    expect(after).toMatchObject({ status: "pass" });
  }

  test("nginx stopped: `systemctl enable --now nginx`", async () => {
    await hintFixes("nginx", ["systemctl", "stop", "nginx"], ["systemctl", "enable", "--now", "nginx"]);
  }, 600_000);

  test("nginx stopped and disabled: the same hint, and nginx is enabled after it", async () => {
    await hintFixes("nginx", ["systemctl", "disable", "--now", "nginx"], ["systemctl", "enable", "--now", "nginx"]);
    expect((await c.exec(["systemctl", "is-enabled", "nginx"])).stdout.trim()).toBe("enabled");
  }, 600_000);

  test("PostgreSQL stopped and disabled: `systemctl enable --now postgresql`", async () => {
    await hintFixes(
      "postgres",
      ["systemctl", "disable", "--now", "postgresql"],
      ["systemctl", "enable", "--now", "postgresql"],
    );
    expect((await c.exec(["systemctl", "is-enabled", "postgresql"])).stdout.trim()).toBe("enabled");
  }, 600_000);

  test("only the cluster stopped (postgresql.service still active): `systemctl start postgresql@15-main`", async () => {
    await hintFixes("postgres", ["pg_ctlcluster", "15", "main", "stop"], ["systemctl", "start", "postgresql@15-main"]);
  }, 600_000);

  test("docker engine stopped: `systemctl enable --now docker`", async () => {
    await hintFixes(
      "docker",
      ["systemctl", "disable", "--now", "docker.service", "docker.socket"],
      ["systemctl", "enable", "--now", "docker"],
    );
  }, 600_000);

  test("an nginx master that refuses reloads (its pid file names another process): `systemctl restart nginx`", async () => {
    await hintFixes("nginx", ["sh", "-c", "echo 999999 > /run/nginx.pid"], ["systemctl", "restart", "nginx"]);
  }, 600_000);

  test("odooops daemon stopped: `systemctl start odooops`, and the daemon answers again", async () => {
    ok("stop odooops", await c.exec(["systemctl", "stop", "odooops"]));
    const before = await check(c, "daemon");
    expect(before.status).toBe("fail");
    expect(before.command).toEqual(["systemctl", "start", "odooops"]);
    ok("the hint", await c.exec(before.command!, { timeoutMs: 120_000 }));
    // The unit is started when systemctl returns; the daemon answers a moment later.
    let after = await check(c, "daemon");
    for (let i = 0; i < 30 && after.status !== "pass"; i++) {
      await Bun.sleep(1_000);
      after = await check(c, "daemon");
    }
    expect(after).toMatchObject({ status: "pass" });
  }, 600_000);

  /** Asks doctor for check `id` until it passes or 30 s went by. */
  async function untilPass(id: string): Promise<Awaited<ReturnType<typeof check>>> {
    let r = await check(c, id);
    for (let i = 0; i < 30 && r.status !== "pass"; i++) {
      await Bun.sleep(1_000);
      r = await check(c, id);
    }
    return r;
  }

  test("binary upgraded under the running daemon (install.sh --no-restart): a migration pending; `systemctl restart odooops` applies it", async () => {
    // A later build whose embedded migrations go one further than the state the daemon made.
    const next = await binaryWithNewerMigration();
    tempDirs.push(next.dir);
    await c.copyIn(next.binary, "/tmp/odooops-next");
    const install = ok(
      "install.sh --no-restart",
      await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops-next", "--no-restart"], { timeoutMs: 120_000 }),
    );
    expect(install.stdout).toContain("odooops.service still runs the old binary: systemctl restart odooops");

    const before = await check(c, "state");
    expect(before).toMatchObject({ status: "warn", message: `1 migration(s) not applied yet: ${next.tag}` });
    expect(before.command).toEqual(["systemctl", "restart", "odooops"]);
    ok("the hint", await c.exec(before.command!, { timeoutMs: 120_000 }));
    // Type=simple: systemctl returns once the new daemon is spawned; it migrates a moment later.
    const after = await untilPass("state");
    expect(after.status).toBe("pass");
    expect(after.message).toEndWith(" opens, 2 migration(s) applied, none pending");
    expect(await untilPass("daemon")).toMatchObject({ status: "pass" });
  }, 600_000);
});

describe("no systemd (PID 1 is sleep), docker.io installed, no engine running", () => {
  test("doctor's hint is start-stop-daemon with dockerd in the background; running it makes the docker check pass", async () => {
    const c = await host(false);
    expect((await c.exec(["test", "-d", "/run/systemd/system"])).code).toBe(1);
    const before = await check(c, "docker");
    expect(before.status).toBe("fail");
    expect(before.command).toEqual([
      "start-stop-daemon",
      "--start",
      "--background",
      "--output",
      "/var/log/dockerd.log",
      "--exec",
      "/usr/sbin/dockerd",
    ]);
    expect(before.hint).toEndWith("(systemd is not PID 1 here)");
    ok("the hint", await c.exec(before.command!));
    // start-stop-daemon returns once dockerd is forked; the engine answers a moment later.
    let after = await check(c, "docker");
    for (let i = 0; i < 60 && after.status !== "pass"; i++) {
      await Bun.sleep(1000);
      after = await check(c, "docker");
    }
    expect(after.status).toBe("pass");
    expect(after.message).toMatch(/^Docker 20\.10\.\d+/);
  }, 600_000);
});
