import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolvePaths } from "../../src/config/paths";
import { Invalid } from "../../src/errors";
import {
  parseUnitState,
  renderUnit,
  systemctl,
  verifyUnit,
  writeUnitFile,
  type UnitSpec,
} from "../../src/host/systemd";
import { binarySnapshot, runArgv } from "../support/install-container";
import { freePort } from "../support/ports";
import { makeTempDir, removeTempDir } from "../support/tmp";

/** bunfig's [test] timeout is not applied by bun 1.4.5: integration steps say it themselves. */
const SLOW = 120_000;

let bin: { dir: string; binary: string; version: string };
let tmp: string;

beforeAll(async () => {
  bin = await binarySnapshot();
  tmp = makeTempDir("odooops-systemd-");
}, 300_000);

afterAll(() => {
  removeTempDir(tmp);
  if (bin) removeTempDir(bin.dir);
});

const dirs = resolvePaths();
const prod: UnitSpec = { binary: "/usr/local/bin/odooops", user: "root", dirs };

/** `Key=value` lines of the rendered unit, in order (comments and sections dropped). */
function directives(unit: string): [string, string][] {
  return unit
    .split("\n")
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]);
}

function value(unit: string, key: string): string | undefined {
  return directives(unit).find(([k]) => k === key)?.[1];
}

describe("unit rendering", () => {
  test("production defaults: FHS paths, restart policy, ordering after docker/postgres/nginx, hardening", () => {
    const u = renderUnit(prod);
    expect(u).toContain("[Unit]\n");
    expect(u).toContain("\n[Service]\n");
    expect(u).toContain("\n[Install]\nWantedBy=multi-user.target\n");
    expect(value(u, "Type")).toBe("simple");
    expect(value(u, "ExecStart")).toBe("/usr/local/bin/odooops serve");
    expect(value(u, "User")).toBe("root");
    expect(value(u, "Group")).toBeUndefined();
    expect(value(u, "Environment")).toBeUndefined(); // no ODOOOPS_ROOT: default paths
    expect(value(u, "Restart")).toBe("on-failure");
    expect(value(u, "RestartSec")).toBe("5s");
    expect(value(u, "After")).toBe("network-online.target docker.service postgresql.service nginx.service");
    expect(value(u, "Wants")).toBe("network-online.target docker.service postgresql.service");
    expect(value(u, "LimitNOFILE")).toBe("65536");
    expect(value(u, "NoNewPrivileges")).toBe("yes");
    expect(value(u, "ProtectSystem")).toBe("full");
    expect(value(u, "ProtectHome")).toBe("read-only");
    expect(value(u, "PrivateTmp")).toBe("yes");
    expect(value(u, "ReadWritePaths")).toBe(
      "/etc/odooops /var/lib/odooops -/etc/nginx -/etc/postgresql -/var/log/odooops -/run/odooops",
    );
    // The JIT needs W+X memory: this one would crash the daemon at start.
    expect(u).not.toMatch(/^MemoryDenyWriteExecute=/m);
    expect(u).not.toContain("&#x2F;"); // no HTML escaping
    // Every directive at most once except documented lists.
    const keys = directives(u).map(([k]) => k);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test("root, group and listen", () => {
    const u = renderUnit({
      binary: "/opt/odooops/bin/odooops",
      user: "root",
      dirs,
      group: "odooops",
      root: "/srv/odooops/",
      listen: "0.0.0.0:8420",
    });
    expect(value(u, "Environment")).toBe("ODOOOPS_ROOT=/srv/odooops");
    expect(value(u, "ExecStart")).toBe("/opt/odooops/bin/odooops serve --listen 0.0.0.0:8420");
    expect(value(u, "Group")).toBe("odooops");
    expect(value(u, "ReadWritePaths")).toBe(
      "/srv/odooops -/etc/nginx -/etc/postgresql -/var/log/odooops -/run/odooops",
    );
    expect(value(u, "PrivateTmp")).toBe("yes");
  });

  test("a root or binary under /tmp turns PrivateTmp off (it would hide them)", () => {
    expect(value(renderUnit({ ...prod, root: "/tmp/odooops-x" }), "PrivateTmp")).toBe("no");
    expect(value(renderUnit({ ...prod, binary: "/var/tmp/odooops" }), "PrivateTmp")).toBe("no");
    expect(value(renderUnit({ ...prod, root: "/tmpfoo" }), "PrivateTmp")).toBe("yes");
  });

  test("extra read-write paths, optional with a leading -", () => {
    const u = renderUnit({ ...prod, readWritePaths: ["/srv/backups", "-/etc/postgresql", "-/opt/pg/hba"] });
    expect(value(u, "ReadWritePaths")).toBe(
      "/etc/odooops /var/lib/odooops -/etc/nginx -/etc/postgresql -/var/log/odooops -/run/odooops /srv/backups -/opt/pg/hba",
    );
  });

  test("values that could add directives, arguments, specifiers or expansions are refused", () => {
    const bad: Partial<UnitSpec>[] = [
      { binary: "odooops" }, // systemd needs an absolute path
      { binary: "/usr/local/bin/odooops --root /x" },
      { binary: "/usr/local/bin/odooops\nExecStartPre=/bin/rm -rf /" },
      { binary: "/usr/local/%h/odooops" },
      { binary: "/usr/local/$HOME/odooops" },
      { root: "relative/root" },
      { root: "/srv/odooops\nUser=nobody" },
      { root: "/srv/../etc" },
      { root: "/srv/odoo ops" },
      { user: "Root" },
      { user: "root\nGroup=root" },
      { user: "" },
      { group: "odooops group" },
      { listen: "127.0.0.1" },
      { listen: "127.0.0.1:0" },
      { listen: "127.0.0.1:70000" },
      { listen: "127.0.0.1:8420 --root /tmp" },
      { readWritePaths: ["/srv/a b"] },
      { readWritePaths: ["--/srv"] },
    ];
    for (const b of bad) expect(() => renderUnit({ ...prod, ...b })).toThrow(Invalid);
  });
});

describe("systemd accepts the unit", () => {
  test(
    "systemd-analyze verify: production defaults and a root + listen variant",
    async () => {
      for (const [name, spec] of [
        ["default.service", { binary: bin.binary, user: "root", dirs }],
        [
          "rooted.service",
          {
            binary: bin.binary,
            user: "root",
            dirs,
            group: "root",
            root: join(tmp, "root"),
            listen: "127.0.0.1:8420",
            readWritePaths: ["/srv/backups"],
          },
        ],
      ] as [string, UnitSpec][]) {
        const file = join(tmp, name);
        writeFileSync(file, renderUnit(spec));
        const cmd = verifyUnit(file);
        const r = await runArgv(cmd.argv);
        // verify exits 0 on unknown keys and bad values, only warning on stderr: both must be clean.
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
      }
    },
    SLOW,
  );

  test(
    "systemd-analyze verify catches what the test relies on it catching",
    async () => {
      const file = join(tmp, "broken.service");
      writeFileSync(
        file,
        renderUnit({ binary: bin.binary, user: "root", dirs }).replace("NoNewPrivileges=", "NoNewPrivilege="),
      );
      const r = await runArgv(verifyUnit(file).argv);
      expect(r.stderr).toContain("Unknown key 'NoNewPrivilege'");
    },
    SLOW,
  );

  test(
    "the daemon starts the way the unit starts it and answers, then stops on SIGTERM",
    async () => {
      const root = join(tmp, "daemon-root");
      const port = await freePort();
      const u = renderUnit({ binary: bin.binary, user: "root", dirs, root, listen: `127.0.0.1:${port}` });
      // ExecStart and Environment carry no quoting (renderUnit refuses spaces in values), so
      // splitting on spaces is exactly what systemd does with them.
      const argv = (value(u, "ExecStart") ?? "").split(" ");
      const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
      for (const [k, v] of directives(u))
        if (k === "Environment") env[v.slice(0, v.indexOf("="))] = v.slice(v.indexOf("=") + 1);
      expect(env.ODOOOPS_ROOT).toBe(root);
      const proc = Bun.spawn(argv, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      try {
        let status = 0;
        for (let i = 0; i < 100 && status !== 200; i++) {
          status = await fetch(`http://127.0.0.1:${port}/api/v1/health`).then(
            (r) => r.status,
            () => 0,
          );
          if (status !== 200) await Bun.sleep(100);
        }
        expect(status).toBe(200);
        expect(statSync(join(root, "state", "odooops.db")).isFile()).toBe(true);
      } finally {
        proc.kill("SIGTERM");
      }
      // Well inside TimeoutStopSec=90.
      const code = await Promise.race([proc.exited, Bun.sleep(30_000).then(() => "timeout" as const)]);
      expect(code).not.toBe("timeout");
      if (code === "timeout") proc.kill("SIGKILL");
    },
    SLOW,
  );
});

describe("systemctl commands and the unit file", () => {
  test("commands as data", () => {
    const s = systemctl();
    expect(s.daemonReload().argv).toEqual(["systemctl", "daemon-reload"]);
    expect(s.enableNow("odooops.service").argv).toEqual(["systemctl", "enable", "--now", "odooops.service"]);
    expect(s.restart("odooops.service").argv).toEqual(["systemctl", "restart", "odooops.service"]);
    expect(s.stop("odooops.service").argv).toEqual(["systemctl", "stop", "odooops.service"]);
    expect(s.isActive("odooops.service")).toMatchObject({
      argv: ["systemctl", "is-active", "--quiet", "odooops.service"],
      okExitCodes: [1, 2, 3, 4],
    });
    expect(verifyUnit("/etc/systemd/system/odooops.service").argv).toEqual([
      "systemd-analyze",
      "verify",
      "/etc/systemd/system/odooops.service",
    ]);
    expect(s.state("nginx.service").argv).toEqual([
      "systemctl",
      "show",
      "--property=LoadState,ActiveState,UnitFileState",
      "nginx.service",
    ]);
    // As systemd 252 prints them: a unit that exists, and one that does not.
    expect(parseUnitState("LoadState=loaded\nActiveState=active\nUnitFileState=disabled\n")).toEqual({
      load: "loaded",
      active: "active",
      unitFile: "disabled",
    });
    expect(parseUnitState("UnitFileState=\nLoadState=not-found\nActiveState=inactive\n")).toEqual({
      load: "not-found",
      active: "inactive",
      unitFile: "",
    });
    expect(() => s.restart("odooops; reboot")).toThrow(Invalid);
    expect(() => s.restart("--all")).toThrow(Invalid);
  });

  test("writeUnitFile: atomic, 0644, reports whether anything changed", async () => {
    const file = join(tmp, "odooops.service");
    const text = renderUnit(prod);
    const oldUmask = process.umask(0o077); // the mode must not depend on the caller's umask
    try {
      expect(await writeUnitFile(file, text)).toBe(true);
    } finally {
      process.umask(oldUmask);
    }
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(await Bun.file(file).text()).toBe(text);
    expect(await writeUnitFile(file, text)).toBe(false);
    expect(await writeUnitFile(file, renderUnit({ ...prod, listen: "127.0.0.1:9000" }))).toBe(true);
    expect(readdirSync(tmp).filter((f) => f.includes(".odooops-"))).toEqual([]);
  });
});
