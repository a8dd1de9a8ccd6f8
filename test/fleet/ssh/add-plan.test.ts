/** host add as data: exact remote argv, the preflight reading, and the undo order of the steps. */
import { describe, expect, test } from "bun:test";
import {
  FHS_LAYOUT,
  initCommand,
  installCommand,
  parseSnapshot,
  snapshotCommand,
  startCommand,
  stopCommand,
  uninitCommands,
  uninstallCommands,
} from "../../../src/fleet/add/commands";
import {
  type ProbeName,
  type ProbeOutput,
  parseDf,
  parseOsRelease,
  readPreflight,
} from "../../../src/fleet/add/preflight";
import { runSteps, StepFailed, type StepEvent } from "../../../src/fleet/add/steps";
import { Invalid } from "../../../src/errors";

describe("remote commands", () => {
  test("install, init, start, stop: exact argv", () => {
    expect(installCommand({ stagingDir: "/var/tmp/odooops-add.x", prefix: "/usr/local", withDeps: true })).toEqual([
      "sh",
      "/var/tmp/odooops-add.x/install.sh",
      "--binary",
      "/var/tmp/odooops-add.x/odooops",
      "--prefix",
      "/usr/local",
      "--with-deps",
    ]);
    expect(initCommand({ prefix: "/opt", joinUrl: "https://c:8420", joinToken: "jt_x;rm -rf /" })).toEqual([
      "/opt/bin/odooops",
      "init",
      "--role",
      "agent",
      "--join-url",
      "https://c:8420",
      "--join-token",
      "jt_x;rm -rf /",
      "--yes",
    ]);
    expect(startCommand("/usr/local", FHS_LAYOUT, true)).toEqual(["systemctl", "enable", "--now", "odooops.service"]);
    expect(startCommand("/usr/local", FHS_LAYOUT, false)).toEqual([
      "sh",
      "-c",
      'mkdir -p "$(dirname "$2")" && nohup "$1" serve >>"$2" 2>&1 </dev/null & echo $!',
      "start",
      "/usr/local/bin/odooops",
      "/var/lib/odooops/logs/agent-serve.log",
    ]);
    expect(stopCommand(true, null)).toEqual(["systemctl", "disable", "--now", "odooops.service"]);
    expect(stopCommand(false, "123")).toEqual(["kill", "--", "123"]);
    expect(stopCommand(false, null)).toBeNull();
  });

  test("undo removes only what did not exist before (the account only when created)", () => {
    expect(snapshotCommand("/usr/local", FHS_LAYOUT).slice(3)).toEqual([
      "snapshot",
      "/usr/local/bin",
      "/usr/local/bin/odooops",
      "/etc/odooops",
      "/etc/odooops/config.yaml",
      "/var/lib/odooops",
      "/etc/systemd/system/odooops.service",
    ]);
    const fresh = parseSnapshot(
      "/usr/local/bin=yes\n/usr/local/bin/odooops=no\n/etc/odooops=no\n/etc/odooops/config.yaml=no\n/var/lib/odooops=no\n/etc/systemd/system/odooops.service=no\nuser=no\ngroup=no\n",
    );
    expect(uninstallCommands("/usr/local", FHS_LAYOUT, fresh)).toEqual([
      ["rm", "-f", "--", "/usr/local/bin/odooops"],
      ["rm", "-rf", "--", "/etc/odooops"],
      ["rm", "-rf", "--", "/var/lib/odooops"],
      ["userdel", "odooops"],
      ["groupdel", "odooops"],
    ]);
    expect(uninitCommands(FHS_LAYOUT, fresh, true)).toEqual([
      ["systemctl", "disable", "--now", "odooops.service"],
      ["rm", "-f", "--", "/etc/systemd/system/odooops.service"],
      ["rm", "-f", "--", "/etc/odooops/config.yaml", "/etc/odooops/join.yaml"],
    ]);
    const upgrade = {
      ...fresh,
      "/usr/local/bin/odooops": true,
      "/etc/odooops": true,
      "/etc/odooops/config.yaml": true,
      "/var/lib/odooops": true,
      user: true,
      group: true,
    };
    expect(uninstallCommands("/usr/local", FHS_LAYOUT, upgrade)).toEqual([
      ["mv", "-f", "--", "/usr/local/bin/odooops.before-host-add", "/usr/local/bin/odooops"],
    ]);
    expect(uninitCommands(FHS_LAYOUT, upgrade, true)).toEqual([]);
  });
});

const ok = (stdout: string, stderr = ""): ProbeOutput => ({ exitCode: 0, stdout, stderr });
const missing: ProbeOutput = { exitCode: 127, stdout: "", stderr: "sh: 1: docker: not found" };

function outputs(over: Partial<Record<ProbeName, ProbeOutput>> = {}): Record<ProbeName, ProbeOutput> {
  return {
    uid: ok("0\n"),
    osRelease: ok('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'),
    arch: ok("x86_64\n"),
    cores: ok("4\n"),
    memory: ok("MemTotal:        8039124 kB\nMemFree:  100 kB\n"),
    disk: ok(
      "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda1 100 10 41943040 10% /\n/dev/vda1 100 10 41943040 10% /\n",
    ),
    docker: ok("24.0.7\n"),
    postgres: ok("psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
    nginx: ok("", "nginx version: nginx/1.22.1\n"),
    aptGet: ok("apt 2.6.1 (amd64)\n"),
    systemd: ok(""),
    ...over,
  };
}

describe("preflight", () => {
  test("a ready Debian host: facts, no problems", () => {
    const p = readPreflight(outputs(), { withDeps: false, prefix: "/usr/local" });
    expect(p.problems).toEqual([]);
    expect(p.facts).toEqual({
      os: { id: "debian", idLike: "", name: "Debian GNU/Linux 12 (bookworm)", versionId: "12" },
      arch: "x86_64",
      cores: 4,
      memoryBytes: 8039124 * 1024,
      diskFree: [
        { path: "/var/lib", bytes: 41943040 * 1024 },
        { path: "/usr/local", bytes: 41943040 * 1024 },
      ],
      docker: "24.0.7",
      postgres: "15.18",
      nginx: "1.22.1",
      systemd: true,
    });
  });

  test("one refusal per missing prerequisite, unless --with-deps (which needs apt-get)", () => {
    const o = outputs({ docker: missing, postgres: missing, nginx: missing });
    expect(readPreflight(o, { withDeps: false, prefix: "/usr/local" }).problems).toEqual([
      "docker (docker.io) is not installed: install it, or rerun with --with-deps",
      "PostgreSQL (postgresql) is not installed: install it, or rerun with --with-deps",
      "nginx is not installed: install it, or rerun with --with-deps",
    ]);
    expect(readPreflight(o, { withDeps: true, prefix: "/usr/local" }).problems).toEqual([]);
    expect(readPreflight({ ...o, aptGet: missing }, { withDeps: true, prefix: "/usr/local" }).problems).toEqual([
      "--with-deps needs apt-get to install docker (docker.io), PostgreSQL (postgresql), nginx, and apt-get is not there",
    ]);
  });

  test("wrong OS, arch, user, too little memory or disk: each said", () => {
    const p = readPreflight(
      outputs({
        uid: ok("1000\n"),
        osRelease: ok('ID=fedora\nPRETTY_NAME="Fedora Linux 40"\n'),
        arch: ok("riscv64\n"),
        memory: ok("MemTotal: 524288 kB\n"),
        disk: ok(
          "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/a 1 1 1048576 1% /\n/dev/a 1 1 1024 1% /\n",
        ),
      }),
      { withDeps: false, prefix: "/opt" },
    );
    expect(p.problems).toEqual([
      "the SSH user is not root (uid 0): install.sh creates a system user and /etc/odooops; connect as root@…",
      "unsupported OS Fedora Linux 40: odooops supports Debian and Ubuntu and their derivatives",
      "unsupported CPU architecture riscv64: odooops is built for x86_64 and aarch64",
      "0.5 GiB of memory: at least 1.0 GiB is needed to run Odoo",
      "1.0 GiB free on /var/lib: at least 5.0 GiB is needed for images, databases and backups",
      "0.0 GiB free on /opt: the binary needs 0.4 GiB",
    ]);
  });

  test("os-release is read as data; df rows in order", () => {
    expect(parseOsRelease("ID=ubuntu\nID_LIKE=debian\nNAME='Ubuntu'\nX=$(reboot)\n")).toEqual({
      ID: "ubuntu",
      ID_LIKE: "debian",
      NAME: "Ubuntu",
      X: "$(reboot)",
    });
    expect(parseDf("h\n/a 1 2 3 4 /\n", ["/x", "/y"])).toEqual([
      { path: "/x", bytes: 3072 },
      { path: "/y", bytes: 0 },
    ]);
  });
});

describe("steps", () => {
  test("a failure undoes the failing step's and earlier steps' changes, newest first, and names the step", async () => {
    const log: string[] = [];
    const events: StepEvent[] = [];
    const err = await runSteps(
      [
        { name: "a", run: async (ctx) => (ctx.undo("undo a", async () => void log.push("undo a")), "did a") },
        {
          name: "b",
          run: async (ctx) => {
            ctx.undo("undo b", async () => void log.push("undo b"));
            throw new Invalid("b broke");
          },
        },
        { name: "c", run: async () => "never" },
      ],
      (e) => events.push(e),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(StepFailed);
    expect((err as StepFailed).message).toBe('failed at step "b": b broke\nundone: undo b; undo a');
    expect((err as StepFailed).exitCode).toBe(2);
    expect(log).toEqual(["undo b", "undo a"]);
    expect(events.map((e) => e.kind)).toEqual(["start", "done", "start", "failed", "undone", "undone"]);
  });

  test("an undo that fails is reported as NOT undone, the others still run", async () => {
    const err = (await runSteps(
      [
        { name: "a", run: async (ctx) => (ctx.undo("undo a", async () => {}), "ok") },
        {
          name: "b",
          run: async (ctx) => {
            ctx.undo("undo b", async () => {
              throw new Error("disk gone");
            });
            throw new Error("boom");
          },
        },
      ],
      () => {},
    ).catch((e) => e)) as StepFailed;
    expect(err.message).toBe('failed at step "b": boom\nNOT undone (do it by hand): undo b (disk gone)');
    expect(err.undone).toEqual([
      { what: "undo b", ok: false, error: "disk gone" },
      { what: "undo a", ok: true },
    ]);
  });
});
