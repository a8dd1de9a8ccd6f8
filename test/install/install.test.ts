/**
 * install.sh end to end with `--binary` inside fresh Debian containers: first install (piped to
 * sh, as `curl … | sh` does), idempotent re-run keeping config and state, upgrade by atomic
 * rename, a broken binary refused, --prefix, --with-deps only when asked, and the refusals of
 * unsupported platforms.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { removeByLabel, testLabel } from "../support/docker";
import { BASE_IMAGE, binarySnapshot, INSTALL_SH, runArgv, TestContainer } from "../support/install-container";
import { removeTempDir } from "../support/tmp";

const SLOW = 120_000;
const label = testLabel();
const containers: TestContainer[] = [];
let bin: { dir: string; binary: string; version: string };
let c: TestContainer;

const mounts = (): [string, string][] => [
  [INSTALL_SH, "/install.sh"],
  [bin.binary, "/tmp/odooops"],
];

async function container(): Promise<TestContainer> {
  const ct = await TestContainer.start({ image: BASE_IMAGE, mounts: mounts(), labels: label.labels });
  containers.push(ct);
  return ct;
}

beforeAll(async () => {
  bin = await binarySnapshot();
  c = await container();
}, 300_000);

afterAll(async () => {
  for (const ct of containers) await ct.remove();
  await removeByLabel(`${label.key}=${label.value}`);
  removeTempDir(bin.dir);
}, 120_000);

test(
  "install.sh is POSIX sh and shellcheck-clean",
  async () => {
    const r = await runArgv(["shellcheck", "-s", "sh", INSTALL_SH]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  },
  SLOW,
);

test(
  "--help documents every option and exits 0 without touching the host",
  async () => {
    const r = await runArgv(["sh", INSTALL_SH, "--help"]);
    expect(r.code).toBe(0);
    for (const opt of [
      "--binary PATH",
      "--base-url URL",
      "--prefix DIR",
      "--with-deps",
      "--no-restart",
      "docker.io postgresql nginx",
    ]) {
      expect(r.stdout).toContain(opt);
    }
    const bad = await runArgv(["sh", INSTALL_SH, "--frobnicate"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown option: --frobnicate");
    const missing = await runArgv(["sh", INSTALL_SH, "--binary"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--binary needs a value");
  },
  SLOW,
);

describe("fresh Debian container", () => {
  test(
    "first install piped to sh: binary, user, group, directories, next command",
    async () => {
      // `sh -s` reads the script from stdin like `curl … | sh`: a command that read stdin would
      // swallow the rest of the script and the install would not finish.
      const r = await c.exec(["sh", "-s", "--", "--binary", "/tmp/odooops"], {
        stdin: readFileSync(INSTALL_SH, "utf8"),
      });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("created system group odooops");
      expect(r.stdout).toContain("created system user odooops (no login shell)");
      expect(r.stdout).toContain(`installed /usr/local/bin/odooops (${bin.version})`);
      expect(r.stdout.trim().split("\n").at(-1)).toBe("odooops install: done. Next: sudo odooops init");

      expect((await c.exec(["odooops", "--version"])).stdout.trim()).toBe(bin.version);
      expect(await c.sh("stat -c '%a %U %G' /usr/local/bin/odooops")).toBe("755 root root\n");
      const [, , uid, gid, , home, shell] = (await c.sh("getent passwd odooops")).trim().split(":");
      expect(Number(uid)).toBeLessThan(1000); // a system account
      expect(home).toBe("/var/lib/odooops");
      expect(shell).toBe("/usr/sbin/nologin");
      expect((await c.sh("getent group odooops")).trim().split(":")[2]).toBe(gid);
      expect(await c.sh("stat -c '%n %a %U %G' /etc/odooops /var/lib/odooops")).toBe(
        "/etc/odooops 750 root odooops\n/var/lib/odooops 751 root odooops\n",
      );
      // Nothing left behind: no temp copy beside the binary, no download dir.
      expect(await c.sh("ls -A /usr/local/bin; ls -d /tmp/odooops-install.* 2>/dev/null || true")).toBe("odooops\n");
      // No host dependencies without --with-deps.
      expect((await c.exec(["dpkg", "-s", "nginx"])).code).not.toBe(0);
    },
    SLOW,
  );

  test(
    "re-run is idempotent and keeps config and state",
    async () => {
      await c.sh(
        "printf 'listen: 127.0.0.1:9999\\n' > /etc/odooops/config.yaml && chmod 0600 /etc/odooops/config.yaml" +
          " && mkdir -p /var/lib/odooops/state && printf 'db' > /var/lib/odooops/state/odooops.db" +
          " && chmod 0700 /etc/odooops", // a drifted mode is put back to 0750
      );
      const before = await c.sh("getent passwd odooops; getent group odooops; stat -c %i /usr/local/bin/odooops");
      const r = await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain("created system");
      // Same bytes: the installed file (inode) is left alone.
      expect(r.stdout).toContain(`/usr/local/bin/odooops is up to date (${bin.version})`);
      expect(await c.sh("getent passwd odooops; getent group odooops; stat -c %i /usr/local/bin/odooops")).toBe(before);
      expect(await c.sh("cat /etc/odooops/config.yaml; stat -c '%a %U' /etc/odooops/config.yaml")).toBe(
        "listen: 127.0.0.1:9999\n600 root\n",
      );
      expect(await c.sh("cat /var/lib/odooops/state/odooops.db")).toBe("db");
      expect(await c.sh("stat -c '%a %U %G' /etc/odooops /var/lib/odooops")).toBe(
        "750 root odooops\n751 root odooops\n",
      );
      expect((await c.exec(["odooops", "--version"])).stdout.trim()).toBe(bin.version);
    },
    SLOW,
  );

  test(
    "upgrade replaces the binary by rename (new inode) and reports both versions",
    async () => {
      await c.sh("printf '#!/bin/sh\\necho 0.0.1\\n' > /tmp/old-odooops && chmod 0755 /tmp/old-odooops");
      const old = await c.exec(["sh", "/install.sh", "--binary", "/tmp/old-odooops"]);
      expect(old.code).toBe(0);
      expect(old.stdout).toContain(`upgraded /usr/local/bin/odooops: ${bin.version} -> 0.0.1`);
      const inode = await c.sh("stat -c %i /usr/local/bin/odooops");
      const r = await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`upgraded /usr/local/bin/odooops: 0.0.1 -> ${bin.version}`);
      expect(await c.sh("stat -c %i /usr/local/bin/odooops")).not.toBe(inode);
      expect(await c.sh("cat /etc/odooops/config.yaml")).toBe("listen: 127.0.0.1:9999\n");
      // Same version, other bytes (a rebuild): replaced, and said so.
      await c.sh(`printf '#!/bin/sh\\necho ${bin.version}\\n' > /tmp/rebuilt && chmod 0755 /tmp/rebuilt`);
      const rebuilt = await c.exec(["sh", "/install.sh", "--binary", "/tmp/rebuilt"]);
      expect(rebuilt.stdout).toContain(`reinstalled /usr/local/bin/odooops (${bin.version}, a different build)`);
      expect((await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops"])).code).toBe(0);
      expect(await c.sh("cmp /usr/local/bin/odooops /tmp/odooops && echo same")).toBe("same\n");
    },
    SLOW,
  );

  test(
    "a binary that does not run here is refused and the installed one is kept",
    async () => {
      await c.sh("printf 'not an executable' > /tmp/garbage");
      const r = await c.exec(["sh", "/install.sh", "--binary", "/tmp/garbage"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("/tmp/garbage does not run on this machine (x86_64); is it the linux-x64 build?");
      expect((await c.exec(["odooops", "--version"])).stdout.trim()).toBe(bin.version);
      expect(await c.sh("ls -A /usr/local/bin")).toBe("odooops\n");
      const missing = await c.exec(["sh", "/install.sh", "--binary", "/nope/odooops"]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("--binary: no such file: /nope/odooops");
    },
    SLOW,
  );

  test(
    "--prefix installs elsewhere and prints the full path when it is not on PATH",
    async () => {
      const r = await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops", "--prefix=/opt/odooops/"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`installed /opt/odooops/bin/odooops (${bin.version})`);
      expect(r.stdout).toContain("Next: sudo /opt/odooops/bin/odooops init");
      expect((await c.exec(["/opt/odooops/bin/odooops", "--version"])).stdout.trim()).toBe(bin.version);
      const rel = await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops", "--prefix", "opt"]);
      expect(rel.code).toBe(2);
      expect(rel.stderr).toContain("--prefix must be an absolute path");
    },
    SLOW,
  );

  test(
    "--with-deps (and only it) runs apt-get non-interactively, never on the script's stdin",
    async () => {
      // A recording apt-get first on PATH: the real one is exercised in with-deps.test.ts.
      await c.sh(
        "mkdir -p /fakebin && printf '%s\\n' '#!/bin/sh' " +
          "'echo \"$DEBIAN_FRONTEND|$(readlink /proc/self/fd/0)|$*\" >> /tmp/apt.log' > /fakebin/apt-get && chmod 0755 /fakebin/apt-get",
      );
      const env = { PATH: "/fakebin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
      const plain = await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops"], { env });
      expect(plain.code).toBe(0);
      expect((await c.exec(["test", "-e", "/tmp/apt.log"])).code).not.toBe(0);
      const deps = await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops", "--with-deps"], { env });
      expect(deps.code).toBe(0);
      expect(deps.stdout).toContain("installing docker.io postgresql nginx with apt-get");
      expect(await c.sh("cat /tmp/apt.log")).toBe(
        "noninteractive|/dev/null|-q update\nnoninteractive|/dev/null|-q -y install docker.io postgresql nginx\n",
      );
    },
    SLOW,
  );

  test(
    "must run as root",
    async () => {
      const r = await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops"], { user: "65534" });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("must run as root");
    },
    SLOW,
  );
});

describe("unsupported platforms are refused clearly", () => {
  // A fake uname first on PATH reports another kernel or CPU; everything else is real.
  const fakeUname = (s: string, m: string) =>
    `mkdir -p /fake && printf '%s\\n' '#!/bin/sh' 'case "$1" in -s) echo ${s};; -m) echo ${m};; *) exec /bin/uname "$@";; esac' > /fake/uname && chmod 0755 /fake/uname`;
  const env = { PATH: "/fake:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };

  test(
    "CPU architectures other than x86_64 and aarch64",
    async () => {
      const ct = await container();
      await ct.sh(fakeUname("Linux", "riscv64"));
      const r = await ct.exec(["sh", "/install.sh", "--binary", "/tmp/odooops"], { env });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        "odooops install: error: unsupported CPU architecture: riscv64 (odooops is built for x86_64 and aarch64)\n",
      );
      expect((await ct.exec(["test", "-e", "/usr/local/bin/odooops"])).code).not.toBe(0);
      expect((await ct.exec(["getent", "passwd", "odooops"])).code).not.toBe(0);
    },
    SLOW,
  );

  test(
    "kernels other than Linux",
    async () => {
      const ct = await container();
      await ct.sh(fakeUname("Darwin", "arm64"));
      const r = await ct.exec(["sh", "/install.sh", "--binary", "/tmp/odooops"], { env });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("unsupported operating system: Darwin");
    },
    SLOW,
  );

  test(
    "distributions outside the Debian family; derivatives are accepted",
    async () => {
      const ct = await container();
      await ct.sh(
        `rm /etc/os-release && printf '%s\\n' 'NAME="Fedora Linux"' 'ID=fedora' 'PRETTY_NAME="Fedora Linux 40"' > /etc/os-release`,
      );
      const r = await ct.exec(["sh", "/install.sh", "--binary", "/tmp/odooops"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        "odooops install: error: unsupported Linux distribution: Fedora Linux 40 (odooops supports Debian and Ubuntu and their derivatives)\n",
      );
      await ct.sh(
        `printf '%s\\n' 'ID=linuxmint' 'ID_LIKE="ubuntu debian"' 'PRETTY_NAME="Linux Mint 22"' > /etc/os-release`,
      );
      const ok = await ct.exec(["sh", "/install.sh", "--binary", "/tmp/odooops"]);
      expect(ok.stderr).toBe("");
      expect(ok.code).toBe(0);
    },
    SLOW,
  );
});
