/**
 * Test harness for install.sh: throwaway Debian containers (the stand-in build's debootstrap
 * base image, no registry needed), a stable copy of the compiled binary, and doctor's report
 * and command hints read and run inside them.
 */
import { afterAll, beforeAll } from "bun:test";
import { copyFileSync, cpSync, existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { removeByLabel, testLabel } from "./docker";
import { makeTempDir, randomSuffix, removeTempDir } from "./tmp";

export const REPO = resolve(import.meta.dir, "..", "..");
export const INSTALL_SH = join(REPO, "install.sh");
/** Built by ../shared/odoo-standin/build.sh (scripts/start-services): a fresh minbase bookworm. */
export const BASE_IMAGE = "odooops-test/debian:bookworm";
/**
 * The base image plus curl and wget, for the download path (minbase has neither). Built once
 * from the Debian mirror the base image uses and kept, like the stand-in image; the tag carries
 * a version so a changed recipe builds a new image.
 */
export const TOOLS_IMAGE = "odooops-test/install-tools:bookworm-1";

/**
 * BASE_IMAGE with systemd as its init, nginx, PostgreSQL and docker.io: a Debian host where
 * systemd runs the services (test/install/systemd-host.test.ts). Built like TOOLS_IMAGE.
 */
export const SYSTEMD_IMAGE = "odooops-test/systemd:bookworm-1";

/**
 * BASE_IMAGE with the .deb files of docker.io, nginx and postgresql (and what apt-get install -y
 * pulls with them) in apt's cache, none installed, and the package lists removed again: a bare
 * host whose `apt-get update` + `apt-get install` read the mirror's lists but unpack from the
 * cache, so a test that installs them stays within minutes (test/install/missing-packages.test.ts).
 */
export const APT_CACHE_IMAGE = "odooops-test/apt-cache:bookworm-1";

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs argv (never a shell string) and collects its output; stdin is closed unless given, `env`
 * is added to this process's environment.
 */
export async function runArgv(
  argv: string[],
  opts: { stdin?: string; timeoutMs?: number; env?: Record<string, string>; cwd?: string } = {},
): Promise<Result> {
  const proc = Bun.spawn(argv, {
    cwd: opts.cwd,
    env: opts.env ? { ...process.env, ...opts.env } : undefined,
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
    timeout: opts.timeoutMs ?? 300_000,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

function failed(what: string, r: Result): Error {
  return new Error(`${what} failed (exit ${r.code}):\n${r.stdout.slice(-6000)}\n${r.stderr.slice(-6000)}`);
}

/** `r` when it exited 0; else an error with `what` and the tail of its output. */
export function ok(what: string, r: Result): Result {
  if (r.code !== 0) throw failed(what, r);
  return r;
}

/**
 * A copy of dist/odooops in a temp dir: other sessions may rebuild dist/odooops while these tests
 * run, and a container must never see a half-written binary. Builds it first when missing.
 */
export async function binarySnapshot(): Promise<{ dir: string; binary: string; version: string }> {
  const dist = join(REPO, "dist", "odooops");
  if (!existsSync(dist)) {
    const r = await runArgv(["bun", "run", "build"], { timeoutMs: 300_000 });
    if (r.code !== 0) throw failed("bun run build", r);
  }
  const dir = makeTempDir("odooops-install-bin-");
  const binary = join(dir, "odooops");
  copyFileSync(dist, binary);
  const r = await runArgv([binary, "--version"]);
  if (r.code !== 0) throw failed(`${binary} --version`, r);
  return { dir, binary, version: r.stdout.trim() };
}

/**
 * The binary of a later release, as far as the state database goes: this tree built in a temp
 * copy whose migration journal has one more entry (a new table), as drizzle-kit would add it.
 * Installed over a running daemon, its doctor finds that migration pending until the daemon
 * restarts on it. The copy links this checkout's node_modules and changes nothing here.
 */
export async function binaryWithNewerMigration(): Promise<{ dir: string; binary: string; tag: string }> {
  const dir = makeTempDir("odooops-install-next-");
  for (const f of ["src", "scripts", "templates", "package.json", "tsconfig.json"])
    cpSync(join(REPO, f), join(dir, f), { recursive: true });
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
  const migrations = join(dir, "src", "state", "migrations");
  const journalFile = join(migrations, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalFile, "utf8")) as {
    entries: { idx: number; version: string; when: number; tag: string; breakpoints: boolean }[];
  };
  const last = journal.entries[journal.entries.length - 1]!;
  const idx = last.idx + 1;
  const tag = `${String(idx).padStart(4, "0")}_upgrade_probe`;
  journal.entries.push({ ...last, idx, when: Math.max(Date.now(), last.when + 1), tag });
  writeFileSync(journalFile, JSON.stringify(journal, null, 2));
  writeFileSync(join(migrations, `${tag}.sql`), "CREATE TABLE `upgrade_probe` (`id` integer PRIMARY KEY NOT NULL);\n");
  // The build's prebuild step embeds the journal's migrations (scripts/gen-migrations.ts).
  const r = await runArgv(["bun", "run", "build"], { cwd: dir, timeoutMs: 300_000 });
  if (r.code !== 0) throw failed("bun run build (newer migration)", r);
  return { dir, binary: join(dir, "dist", "odooops"), tag };
}

export async function imageExists(image: string): Promise<boolean> {
  return (await runArgv(["docker", "image", "inspect", image])).code === 0;
}

/** Builds TOOLS_IMAGE from BASE_IMAGE when missing (needs the Debian mirror, about 15 s). */
export async function ensureToolsImage(): Promise<string> {
  if (await imageExists(TOOLS_IMAGE)) return TOOLS_IMAGE;
  const dockerfile = [
    `FROM ${BASE_IMAGE}`,
    "RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl wget ca-certificates && rm -rf /var/lib/apt/lists/*",
    "",
  ].join("\n");
  // `-` as the context: the Dockerfile comes on stdin and no files are sent.
  const r = await runArgv(["docker", "build", "-t", TOOLS_IMAGE, "-"], { stdin: dockerfile, timeoutMs: 600_000 });
  if (r.code !== 0) throw failed(`docker build ${TOOLS_IMAGE}`, r);
  return TOOLS_IMAGE;
}

/** Builds SYSTEMD_IMAGE from BASE_IMAGE when missing (needs the Debian mirror, about a minute). */
export async function ensureSystemdImage(): Promise<string> {
  if (await imageExists(SYSTEMD_IMAGE)) return SYSTEMD_IMAGE;
  const dockerfile = [
    `FROM ${BASE_IMAGE}`,
    "RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd systemd-sysv dbus nginx postgresql docker.io iproute2 && rm -rf /var/lib/apt/lists/*",
    // No console to log in on: a getty would only spin.
    "RUN systemctl mask console-getty.service getty@tty1.service",
    "",
  ].join("\n");
  const r = await runArgv(["docker", "build", "-t", SYSTEMD_IMAGE, "-"], { stdin: dockerfile, timeoutMs: 900_000 });
  if (r.code !== 0) throw failed(`docker build ${SYSTEMD_IMAGE}`, r);
  return SYSTEMD_IMAGE;
}

/** Builds APT_CACHE_IMAGE from BASE_IMAGE when missing (downloads about 150 MB from the Debian mirror). */
export async function ensureAptCacheImage(): Promise<string> {
  if (await imageExists(APT_CACHE_IMAGE)) return APT_CACHE_IMAGE;
  const dockerfile = [
    `FROM ${BASE_IMAGE}`,
    "RUN apt-get update -q && apt-get install -y -q --download-only docker.io nginx postgresql && rm -rf /var/lib/apt/lists/*",
    "",
  ].join("\n");
  const r = await runArgv(["docker", "build", "-t", APT_CACHE_IMAGE, "-"], { stdin: dockerfile, timeoutMs: 900_000 });
  if (r.code !== 0) throw failed(`docker build ${APT_CACHE_IMAGE}`, r);
  return APT_CACHE_IMAGE;
}

/**
 * What systemd as PID 1, or a docker engine, needs in a container on this machine. Not
 * --privileged: this machine's dockerd lacks CAP_SYS_RESOURCE in its own bounding set, and
 * runc fails with "unable to apply caps: operation not permitted" when asked for all of them.
 * The host's cgroup v1 tree is mounted read-only (systemd reads it, the container's own
 * hierarchy is writable through its namespace); /run is a tmpfs, as systemd expects.
 */
const ENGINE_ARGS = [
  "--cap-add",
  "ALL",
  "--cap-drop",
  "SYS_RESOURCE",
  "--security-opt",
  "seccomp=unconfined",
  "--security-opt",
  "apparmor=unconfined",
  "--tmpfs",
  "/run",
  "--tmpfs",
  "/run/lock",
  "-v",
  "/sys/fs/cgroup:/sys/fs/cgroup:ro",
];

export interface ContainerOptions {
  image: string;
  /** [hostPath, containerPath] pairs, mounted read-only. */
  mounts: [string, string][];
  labels: Record<string, string>;
  /** "host": the container reaches a server the test runs on 127.0.0.1. */
  network?: "host";
  /** [hostPath, containerPath] pairs, mounted read-write (a docker socket, a shared data dir). */
  rwMounts?: [string, string][];
  /** The container's environment (every `docker exec` inherits it). */
  env?: Record<string, string>;
  /** systemd (/sbin/init) as PID 1 instead of `sleep infinity`; wait with `booted()`. */
  boot?: boolean;
  /** The capabilities systemd or a docker engine needs inside (implied by `boot`). */
  engine?: boolean;
}

/** A long-running container (`sleep infinity`) the test runs steps in with `docker exec`. */
export class TestContainer {
  private constructor(readonly name: string) {}

  static async start(opts: ContainerOptions): Promise<TestContainer> {
    const name = `odooops-install-${randomSuffix(10)}`;
    const argv = ["docker", "run", "-d", "--name", name];
    for (const [k, v] of Object.entries(opts.labels)) argv.push("--label", `${k}=${v}`);
    for (const [h, c] of opts.mounts) argv.push("-v", `${h}:${c}:ro`);
    for (const [h, c] of opts.rwMounts ?? []) argv.push("-v", `${h}:${c}`);
    for (const [k, v] of Object.entries(opts.env ?? {})) argv.push("-e", `${k}=${v}`);
    if (opts.network) argv.push("--network", opts.network);
    if (opts.boot || opts.engine) argv.push(...ENGINE_ARGS);
    if (opts.boot) argv.push("--entrypoint", "/sbin/init", opts.image);
    else argv.push("--entrypoint", "sleep", opts.image, "infinity");
    const r = await runArgv(argv);
    if (r.code !== 0) throw failed(`docker run ${opts.image}`, r);
    return new TestContainer(name);
  }

  /** `docker exec`; with `stdin`, its text is the process's standard input (`-i`). */
  exec(
    argv: string[],
    opts: { stdin?: string; env?: Record<string, string>; user?: string; timeoutMs?: number } = {},
  ): Promise<Result> {
    const a = ["docker", "exec"];
    if (opts.stdin !== undefined) a.push("-i");
    if (opts.user) a.push("--user", opts.user);
    for (const [k, v] of Object.entries(opts.env ?? {})) a.push("-e", `${k}=${v}`);
    a.push(this.name, ...argv);
    return runArgv(a, { stdin: opts.stdin, timeoutMs: opts.timeoutMs });
  }

  /** Runs a fixed inspection script inside the container (test-authored, no outside input). */
  async sh(script: string): Promise<string> {
    const r = await this.exec(["sh", "-c", script]);
    if (r.code !== 0) throw failed(`sh -c ${script}`, r);
    return r.stdout;
  }

  /** Until systemd has started every unit: "running", or "degraded" when one failed (named in the error). */
  async booted(): Promise<void> {
    let r = await this.exec(["systemctl", "is-system-running", "--wait"], { timeoutMs: 300_000 });
    // Right after `docker run`, systemd may not have opened its bus yet.
    for (let i = 0; i < 120 && r.stderr.includes("Failed to connect to bus"); i++) {
      await Bun.sleep(250);
      r = await this.exec(["systemctl", "is-system-running", "--wait"], { timeoutMs: 300_000 });
    }
    const state = r.stdout.trim();
    if (state === "running") return;
    const failedUnits = await this.exec(["systemctl", "--failed", "--no-legend", "--plain"]);
    throw new Error(`systemd in ${this.name} is ${state || r.stderr.trim()}: ${failedUnits.stdout.trim()}`);
  }

  /** `docker cp`: a host file into the container, for one that did not exist when it started (a later build). */
  async copyIn(hostPath: string, containerPath: string): Promise<void> {
    ok(`docker cp ${hostPath}`, await runArgv(["docker", "cp", hostPath, `${this.name}:${containerPath}`]));
  }

  async remove(): Promise<void> {
    await runArgv(["docker", "rm", "--force", this.name]);
  }
}

/** One check of `odooops doctor --json`. */
export interface DoctorCheck {
  id: string;
  status: string;
  message: string;
  hint?: string;
  command?: string[];
}

/** `odooops doctor --json` in the container; an error with its stderr when it printed no report. */
export async function doctorReport(c: TestContainer): Promise<{ ok: boolean; checks: DoctorCheck[] }> {
  const r = await c.exec(["odooops", "doctor", "--json"], { timeoutMs: 300_000 });
  try {
    return JSON.parse(r.stdout) as { ok: boolean; checks: DoctorCheck[] };
  } catch {
    throw new Error(`doctor printed no report (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  }
}

export function checkIn(report: { checks: DoctorCheck[] }, id: string): DoctorCheck {
  const found = report.checks.find((x) => x.id === id);
  if (!found) throw new Error(`no check ${id}`);
  return found;
}

/** Check `id` of a fresh doctor run. */
export async function doctorCheck(c: TestContainer, id: string): Promise<DoctorCheck> {
  return checkIn(await doctorReport(c), id);
}

/**
 * Runs `id`'s command hints as printed until it passes (at most `max`); returns the commands run.
 * A command that starts something in the background (dockerd) takes effect a moment later: while
 * doctor still gives the same command, it is asked again before anything else is run.
 */
export async function followHints(c: TestContainer, id: string, max = 4): Promise<string[][]> {
  const ran: string[][] = [];
  let r = await doctorCheck(c, id);
  while (r.status !== "pass") {
    if (!r.command || ran.length === max)
      throw new Error(`${id}: ${r.status} ${r.message}; hint ${r.hint ?? "none"} after ${JSON.stringify(ran)}`);
    const command = r.command;
    ran.push(command);
    const out = ok(command.join(" "), await c.exec(command, { timeoutMs: 600_000 }));
    console.log(`${id}: ${command.join(" ")}\n${(out.stdout + out.stderr).slice(-1500)}`);
    r = await doctorCheck(c, id);
    for (let i = 0; i < 30 && r.status !== "pass" && JSON.stringify(r.command) === JSON.stringify(command); i++) {
      await Bun.sleep(1000);
      r = await doctorCheck(c, id);
    }
  }
  return ran;
}

/** A container of `image` with the binary snapshot installed by install.sh (systemd booted first with `boot`). */
export async function installedContainer(
  opts: Pick<ContainerOptions, "image" | "boot" | "engine" | "labels">,
  binary: string,
): Promise<TestContainer> {
  const c = await TestContainer.start({
    ...opts,
    mounts: [
      [INSTALL_SH, "/install.sh"],
      [binary, "/tmp/odooops"],
    ],
  });
  try {
    if (opts.boot) await c.booted();
    ok("install.sh", await c.exec(["sh", "/install.sh", "--binary", "/tmp/odooops"], { timeoutMs: 120_000 }));
  } catch (e) {
    await c.remove();
    throw e;
  }
  return c;
}

/**
 * For one test file: a bare Debian 12 host (APT_CACHE_IMAGE: no docker, PostgreSQL or nginx,
 * empty package lists, the .deb files in apt's cache) with odooops installed by install.sh,
 * started in beforeAll and removed in afterAll. Returns a getter for the container.
 */
export function bareHostForFile(): () => TestContainer {
  const label = testLabel();
  let bin: Awaited<ReturnType<typeof binarySnapshot>> | undefined;
  let c: TestContainer | undefined;
  beforeAll(async () => {
    bin = await binarySnapshot();
    // engine: docker.io's postinst starts dockerd, which needs the capabilities of a host.
    c = await installedContainer(
      { image: await ensureAptCacheImage(), engine: true, labels: label.labels },
      bin.binary,
    );
  }, 900_000);
  afterAll(async () => {
    await c?.remove();
    await removeByLabel(`${label.key}=${label.value}`);
    if (bin) removeTempDir(bin.dir);
  }, 120_000);
  return () => {
    if (!c) throw new Error("the bare host did not start (see beforeAll)");
    return c;
  };
}
