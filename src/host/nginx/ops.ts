/**
 * Vhost files and reloads. A vhost is written next to its final name, moved into place, and the
 * whole configuration is tested with it; on failure the previous file comes back, so a bad
 * config never replaces a good one. All changes in this process are serialized: `nginx -t`
 * judges the whole config, and two concurrent writers would judge each other's files.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CommandFailed } from "../../errors";
import { run } from "../../exec/run";
import { nginx, type NginxConfig } from "./commands";
import { htpasswdFile, removeHtpasswd } from "./htpasswd";
import { assertSlug } from "./render";

export interface NginxHost extends NginxConfig {
  /** Directory included by the main config as `<sitesDir>/*.conf`. */
  sitesDir: string;
}

export function nginxHost(cfg: NginxConfig, paths: { nginxDir: string }): NginxHost {
  return { binary: cfg.binary, configFile: cfg.configFile, sitesDir: join(paths.nginxDir, "sites") };
}

let queue: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const next = queue.then(fn, fn);
  queue = next.catch(() => undefined);
  return next;
}

function readOrNull(file: string): string | null {
  return existsSync(file) ? readFileSync(file, "utf8") : null;
}

/** `.tmp` is outside the `*.conf` include glob, so a half-written file is never loaded. */
function putFile(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, file);
}

function restore(file: string, previous: string | null): void {
  if (previous === null) rmSync(file, { force: true });
  else putFile(file, previous);
}

export function vhostFile(host: NginxHost, slug: string): string {
  return join(host.sitesDir, `${assertSlug(slug)}.conf`);
}

/**
 * Installs the vhost for `slug` if `nginx -t` accepts the result. Returns false when the file
 * already had this content. Does not reload (callers batch: write, then `reload`).
 */
export function writeVhost(host: NginxHost, slug: string, text: string): Promise<boolean> {
  const file = vhostFile(host, slug);
  return serialized(async () => {
    mkdirSync(host.sitesDir, { recursive: true });
    const previous = readOrNull(file);
    if (previous === text) return false;
    putFile(file, text);
    try {
      await run(nginx(host).test());
    } catch (e) {
      restore(file, previous);
      throw e;
    }
    return true;
  });
}

/** Removes the vhost for `slug` (false when there was none), keeping it if nginx -t then fails; its user file goes with it. */
export function removeVhost(host: NginxHost, slug: string): Promise<boolean> {
  const file = vhostFile(host, slug);
  return serialized(async () => {
    const previous = readOrNull(file);
    if (previous === null) {
      removeHtpasswd(htpasswdFile(host.sitesDir, slug));
      return false;
    }
    rmSync(file);
    try {
      await run(nginx(host).test());
    } catch (e) {
      restore(file, previous);
      throw e;
    }
    removeHtpasswd(htpasswdFile(host.sitesDir, slug));
    return true;
  });
}

/** Slugs that have a vhost file. */
export function listVhosts(host: NginxHost): string[] {
  if (!existsSync(host.sitesDir)) return [];
  return readdirSync(host.sitesDir)
    .filter((f) => f.endsWith(".conf"))
    .map((f) => f.slice(0, -".conf".length))
    .sort();
}

/** The `pid` file named in the main config (nginx's Debian default otherwise). */
export function pidFileOf(configFile: string): string {
  const m = /^\s*pid\s+([^;\s]+)\s*;/m.exec(readFileSync(configFile, "utf8"));
  return m ? m[1] : "/run/nginx.pid";
}

function childPids(parent: number): Set<number> {
  const out = new Set<number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the parenthesized comm: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent) out.add(Number(entry));
    } catch {
      // Process exited while scanning.
    }
  }
  return out;
}

function retired(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("shutting down");
  } catch {
    return true; // exited
  }
}

/**
 * `nginx -s reload` only sends SIGHUP; the master may still reject the new config (e.g. a port
 * it cannot bind) and keep the old one while the command exits 0. A reload counts as applied
 * once the master has started a worker that did not exist before the signal and every old
 * worker has exited or is shutting down (until then it may still accept connections with the
 * old config). Old workers may live on for open websockets; they are not waited for.
 */
export function reload(host: NginxConfig, timeoutMs = 10_000): Promise<void> {
  return serialized(async () => {
    const cmd = nginx(host).reload();
    const pidFile = pidFileOf(host.configFile);
    const master = Number(readOrNull(pidFile)?.trim() ?? "0");
    const before = master > 0 ? childPids(master) : new Set<number>();
    await run(cmd);
    if (master <= 0 || before.size === 0) return;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const now = childPids(master);
      const started = [...now].some((pid) => !before.has(pid));
      if (started && [...before].every(retired)) return;
      await Bun.sleep(25);
    }
    throw new CommandFailed(
      cmd.argv,
      0,
      "",
      `nginx did not apply the new configuration within ${timeoutMs} ms (see its error log)`,
    );
  });
}
