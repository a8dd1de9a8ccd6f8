/**
 * The odooops unit: rendered from the template, written, then reloaded, enabled, started (or
 * restarted when it or the config changed). Skipped with a note where systemd is not PID 1.
 */
import { basename, dirname } from "node:path";
import type { Paths } from "../config/paths";
import type { Config } from "../config/schema";
import { run } from "../exec/run";
import { renderUnit, systemctl, UNIT_FILE, UNIT_NAME, writeUnitFile } from "../host/systemd";

/** The executable the unit starts: this one when compiled, else the installed one. */
export function defaultBinary(execPath = process.execPath): string {
  return ["bun", "node"].includes(basename(execPath)) ? "/usr/local/bin/odooops" : execPath;
}

/** Paths outside the unit's defaults that the daemon writes: a backup dir, a non-Debian pg_hba.conf. */
export function extraWritePaths(config: Config, paths: Paths): string[] {
  const own = paths.root ?? null;
  const out: string[] = [];
  const add = (p: string) => {
    if (p === "" || (own && (p === own || p.startsWith(`${own}/`)))) return;
    if (
      ["/etc/nginx", "/etc/postgresql", "/var/lib/odooops", "/etc/odooops"].some(
        (d) => p === d || p.startsWith(`${d}/`),
      )
    )
      return;
    out.push(`-${p}`);
  };
  if (config.backups.local.enabled && config.backups.local.dir !== "") add(config.backups.local.dir);
  if (config.postgres.hbaFile !== "") add(dirname(config.postgres.hbaFile));
  add(dirname(config.nginx.configFile));
  return [...new Set(out)];
}

export interface UnitPlan {
  /** Write the unit file. */
  write: boolean;
  /** Talk to systemd (daemon-reload, enable, start/restart). */
  manage: boolean;
  note?: string;
}

/**
 * --no-systemd writes the file only when --unit-file names one (e.g. to inspect or verify it);
 * without a running systemd the file is written for a later boot but nothing is started.
 */
export function planUnit(opts: { wanted: boolean; booted: boolean; unitFileGiven: boolean }): UnitPlan {
  if (!opts.wanted)
    return {
      write: opts.unitFileGiven,
      manage: false,
      note: "--no-systemd: the unit was not installed; start the daemon yourself (odooops serve)",
    };
  if (!opts.booted)
    return {
      write: true,
      manage: false,
      note: "systemd is not running on this host (not PID 1): the unit was written but not enabled or started; start the daemon with `odooops serve`",
    };
  return { write: true, manage: true };
}

export interface UnitResult {
  file: string | null;
  changed: boolean;
  started: "started" | "restarted" | "running" | null;
  note?: string;
}

export async function installUnit(opts: {
  paths: Paths;
  config: Config;
  plan: UnitPlan;
  file?: string;
  binary?: string;
  configChanged: boolean;
}): Promise<UnitResult> {
  const file = opts.file ?? UNIT_FILE;
  if (!opts.plan.write) return { file: null, changed: false, started: null, note: opts.plan.note };
  const text = renderUnit({
    binary: opts.binary ?? defaultBinary(),
    user: "root",
    root: opts.paths.root ?? undefined,
    dirs: opts.paths,
    readWritePaths: extraWritePaths(opts.config, opts.paths),
  });
  const changed = await writeUnitFile(file, text);
  if (!opts.plan.manage) return { file, changed, started: null, note: opts.plan.note };
  const sc = systemctl();
  if (changed) await run(sc.daemonReload());
  const wasActive = (await run(sc.isActive(UNIT_NAME))).exitCode === 0;
  await run(sc.enableNow(UNIT_NAME));
  if (wasActive && (changed || opts.configChanged)) {
    await run(sc.restart(UNIT_NAME));
    return { file, changed, started: "restarted" };
  }
  return { file, changed, started: wasActive ? "running" : "started" };
}
