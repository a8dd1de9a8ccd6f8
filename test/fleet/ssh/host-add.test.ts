/**
 * host add end to end against a real sshd on this machine, inside temp dirs only: the real
 * install.sh and `odooops init` write /etc and /var/lib (and create a system user), so here a
 * stand-in install script and a stand-in agent binary play them, in a test layout. Everything
 * else is real: host key, preflight of this host, SFTP + checksum, remote argv, the background
 * start (no systemd here), the heartbeat wait, idempotent rerun, and the undo of each failure.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../../src/exec/run";
import type { RemoteLayout } from "../../../src/fleet/add/commands";
import { type CoordinatorSeam, type HostAddInput, hostAdd } from "../../../src/fleet/add/host-add";
import type { StepFailed } from "../../../src/fleet/add/steps";
import { SshSession, type SshTarget } from "../../../src/fleet/ssh/connection";
import { fingerprint } from "../../../src/fleet/ssh/known-hosts";
import { startSshd, type TestSshd } from "../../support/sshd";
import { makeTempDir, removeTempDir } from "../../support/tmp";

let dir: string;
let remote: string;
let sshd: TestSshd;
let target: SshTarget;
let layout: RemoteLayout;
/** Background agents this test's host add started (pids from the start step's report). */
const agents: number[] = [];

/** Every file under `remote`, with its content: "the host as it was" is this, unchanged. */
function tree(base: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out[`${p}/`] = "";
        walk(p);
      } else out[p] = readFileSync(p, "utf8");
    }
  };
  walk(base);
  return out;
}

beforeAll(async () => {
  if (existsSync("/run/systemd/system")) throw new Error("systemd runs here: this test would start a real unit");
  dir = makeTempDir("odooops-hostadd-");
  remote = makeTempDir("odooops-hostadd-remote-");
  sshd = await startSshd(dir);
  await sshd.start("host");
  await run({ argv: ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(dir, "user")] });
  writeFileSync(join(dir, "authorized_keys"), await Bun.file(join(dir, "user.pub")).text());
  target = {
    host: "127.0.0.1",
    port: sshd.port,
    username: "root",
    identityFile: join(dir, "user"),
    knownHostsFiles: [join(dir, "coordinator-known_hosts")],
  };
  layout = {
    configDir: join(remote, "etc"),
    dataDir: join(remote, "lib"),
    unitFile: join(remote, "odooops.service"),
    account: false,
  };
  mkdirSync(join(remote, "prefix"));
  // The stand-in agent: init writes its config, serve announces itself (the "heartbeat").
  writeFileSync(
    join(dir, "agent"),
    [
      "#!/bin/sh",
      'case "$1" in',
      `init) printf '%s\\n' "$@" > ${layout.configDir}/config.yaml ;;`,
      `serve) touch ${dir}/serving; exec sleep 300 ;;`,
      "esac",
      "",
    ].join("\n"),
  );
  chmodSync(join(dir, "agent"), 0o755);
  // The stand-in installer: same flags as install.sh, writes only the test layout.
  writeFileSync(
    join(dir, "install.sh"),
    [
      "set -eu",
      'while [ $# -gt 0 ]; do case "$1" in --binary) b=$2; shift 2;; --prefix) p=$2; shift 2;; *) shift;; esac; done',
      `mkdir -p "$p/bin" ${layout.configDir} ${layout.dataDir}`,
      'cp "$b" "$p/bin/odooops"',
      'echo "installed $p/bin/odooops"',
      "",
    ].join("\n"),
  );
});

afterAll(async () => {
  for (const pid of agents) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already stopped by the undo under test.
    }
  }
  await sshd?.stop();
  removeTempDir(dir);
  removeTempDir(remote);
});

/** The coordinator side of another slice (hosts, join tokens), as the seam host add uses. */
function coordinator(opts: { enrolled?: boolean; heartbeat?: boolean } = {}) {
  const issued: { name: string; labels: Record<string, string> }[] = [];
  const seam: CoordinatorSeam = {
    host: async () => (opts.enrolled ? { lastHeartbeatAt: new Date().toISOString() } : null),
    issueJoinToken: async (o) => {
      issued.push({ name: o.name, labels: o.labels });
      return {
        token: "jt_secret-token-1234",
        joinUrl: "https://coordinator.test:8420",
        expiresAt: "2030-01-01T00:00:00Z",
      };
    },
    waitForHeartbeat: async (_name, { timeoutMs }) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (opts.heartbeat !== false && existsSync(join(dir, "serving"))) return { at: new Date().toISOString() };
        await Bun.sleep(100);
      }
      throw new Error(`no heartbeat within ${timeoutMs} ms`);
    },
  };
  return { seam, issued };
}

function input(over: Partial<HostAddInput> = {}): HostAddInput {
  return {
    target: { ...target, fingerprint: undefined },
    name: "agent-1",
    labels: { region: "eu" },
    withDeps: false,
    dryRun: false,
    prefix: join(remote, "prefix"),
    binary: join(dir, "agent"),
    installSh: join(dir, "install.sh"),
    layout,
    knownHostsFile: join(dir, "coordinator-known_hosts"),
    heartbeatTimeoutMs: 60_000,
    joinTokenTtlMs: 60_000,
    ...over,
  };
}

async function add(i: HostAddInput, seam: CoordinatorSeam) {
  const lines: string[] = [];
  const report = await hostAdd(i, {
    coordinator: seam,
    connect: (t) => SshSession.connect(t, {}),
    onEvent: (e) => lines.push(JSON.stringify(e)),
  });
  return { report, lines };
}

async function stagingDirs(): Promise<string[]> {
  return readdirSync("/var/tmp").filter((n) => n.startsWith("odooops-add."));
}

describe("host add over a real sshd", () => {
  test("unknown host key: refused with the fingerprint and the flag; nothing changed", async () => {
    const before = tree(remote);
    const fp = fingerprint(Buffer.from(await sshd.publicKey("host"), "base64"));
    const err = (await add(input(), coordinator().seam).catch((e) => e)) as StepFailed;
    expect(err.step).toBe("host key");
    expect(err.message).toContain(`--fingerprint ${fp}`);
    expect(tree(remote)).toEqual(before);
  }, 600_000);

  test("--dry-run: key and preflight checked, the plan printed, nothing changed", async () => {
    const fp = fingerprint(Buffer.from(await sshd.publicKey("host"), "base64"));
    const before = tree(remote);
    const staged = await stagingDirs();
    const { report, lines } = await add(
      input({ dryRun: true, target: { ...target, fingerprint: fp } }),
      coordinator().seam,
    );
    expect(report.outcome).toBe("dry-run");
    expect(report.steps.map((s) => s.step)).toEqual(["host key", "compare", "preflight"]);
    // Preflight read this very host.
    const f = report.preflight?.facts;
    const osId = readFileSync("/etc/os-release", "utf8").match(/^ID=(.*)$/m)?.[1];
    expect(f?.os.id).toBe(osId?.replace(/"/g, "") ?? "");
    expect(f?.arch).toBe((await run({ argv: ["uname", "-m"] })).stdout.trim());
    expect(f?.cores).toBe(Number((await run({ argv: ["nproc"] })).stdout.trim()));
    expect(f?.postgres).toBe(
      (await run({ argv: ["psql", "--version"] })).stdout.match(/\) (\d+(\.\d+)*)/)?.[1] ?? null,
    );
    expect(f?.nginx).toMatch(/^\d+\.\d+/);
    expect(f?.systemd).toBe(false);
    const plan = lines.find((l) => l.includes('"plan"')) ?? "";
    expect(plan).toContain("--join-token");
    expect(plan).not.toContain("jt_secret");
    expect(tree(remote)).toEqual(before);
    expect(await stagingDirs()).toEqual(staged);
    expect(existsSync(join(dir, "coordinator-known_hosts"))).toBe(false);
  }, 600_000);

  test("a failing install is undone: staging removed, the host as it was", async () => {
    const fp = fingerprint(Buffer.from(await sshd.publicKey("host"), "base64"));
    const broken = join(dir, "broken-install.sh");
    writeFileSync(broken, `mkdir -p ${join(remote, "prefix", "bin")}\necho half-done >&2\nexit 3\n`);
    const before = tree(remote);
    const staged = await stagingDirs();
    const err = (await add(
      input({ installSh: broken, target: { ...target, fingerprint: fp } }),
      coordinator().seam,
    ).catch((e) => e)) as StepFailed;
    expect(err.step).toBe("install");
    expect(err.message).toContain("half-done");
    expect(err.message).toContain("undone:");
    expect(await stagingDirs()).toEqual(staged);
    expect(tree(remote)).toEqual(before);
  }, 600_000);

  test("no heartbeat: every step undone (agent stopped, init and install reverted)", async () => {
    const fp = fingerprint(Buffer.from(await sshd.publicKey("host"), "base64"));
    const before = tree(remote);
    const c = coordinator({ heartbeat: false });
    const err = (await add(input({ heartbeatTimeoutMs: 1_500, target: { ...target, fingerprint: fp } }), c.seam).catch(
      (e) => e,
    )) as StepFailed;
    expect(err.step).toBe("heartbeat");
    expect(err.undone.map((u) => [u.what.split(" ")[0], u.ok])).toEqual([
      ["stopped", true],
      ["init", true],
      ["install", true],
      ["removed", true],
    ]);
    expect(c.issued).toHaveLength(1);
    expect(tree(remote)).toEqual(before);
  }, 600_000);

  test("added: uploaded with checksum, installed, init with the join token, started in the background, heartbeat; rerun does nothing", async () => {
    const fp = fingerprint(Buffer.from(await sshd.publicKey("host"), "base64"));
    const c = coordinator();
    const staged = await stagingDirs();
    const { report, lines } = await add(input({ target: { ...target, fingerprint: fp } }), c.seam);
    const pid = report.steps.find((s) => s.step === "start")?.detail.match(/pid (\d+)/)?.[1];
    if (pid) agents.push(Number(pid));
    expect(report.outcome).toBe("added");
    expect(report.started).toBe("background");
    expect(report.steps.map((s) => s.step)).toEqual([
      "host key",
      "compare",
      "preflight",
      "upload",
      "install",
      "join token",
      "init",
      "start",
      "heartbeat",
    ]);
    for (const s of report.steps) expect(s.ms).toBeGreaterThanOrEqual(0);
    expect(c.issued).toEqual([{ name: "agent-1", labels: { region: "eu" } }]);
    expect(readFileSync(join(remote, "prefix/bin/odooops"))).toEqual(readFileSync(join(dir, "agent")));
    expect(readFileSync(join(layout.configDir, "config.yaml"), "utf8")).toBe(
      "init\n--role\nagent\n--join-url\nhttps://coordinator.test:8420\n--join-token\njt_secret-token-1234\n--yes\n",
    );
    expect(lines.join("\n")).not.toContain("jt_secret-token-1234");
    expect(await stagingDirs()).toEqual(staged);
    // The pinned key is now the coordinator's: the rerun needs no --fingerprint.
    expect(readFileSync(join(dir, "coordinator-known_hosts"), "utf8")).toBe(
      `[127.0.0.1]:${sshd.port} ssh-ed25519 ${await sshd.publicKey("host")}\n`,
    );
    const again = await add(input(), coordinator({ enrolled: true }).seam);
    expect(again.report.outcome).toBe("unchanged");
    expect(again.report.steps.map((s) => s.step)).toEqual(["host key", "compare"]);
    expect(again.report.steps[1]?.detail).toContain("nothing to do");
  }, 600_000);
});
