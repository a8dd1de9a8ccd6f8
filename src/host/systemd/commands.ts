/** systemctl / systemd-analyze commands as data (run by src/exec/run.ts). */
import type { Command } from "../../exec/command";
import { Invalid } from "../../errors";

const UNIT = /^[A-Za-z0-9@._:-]+\.(service|socket|timer|target)$/;

function unit(name: string): string {
  if (!UNIT.test(name)) throw new Invalid(`systemd: invalid unit name: ${JSON.stringify(name)}`);
  return name;
}

export function systemctl(binary = "systemctl") {
  return {
    /** Needed after writing or changing a unit file, before enable/start/restart. */
    daemonReload: (): Command => ({ argv: [binary, "daemon-reload"], timeoutMs: 60_000 }),
    enableNow: (name: string): Command => ({ argv: [binary, "enable", "--now", unit(name)], timeoutMs: 120_000 }),
    restart: (name: string): Command => ({ argv: [binary, "restart", unit(name)], timeoutMs: 120_000 }),
    stop: (name: string): Command => ({ argv: [binary, "stop", unit(name)], timeoutMs: 120_000 }),
    /** Exit 0 when active; 3 (inactive) is an answer, not a failure. */
    isActive: (name: string): Command => ({
      argv: [binary, "is-active", "--quiet", unit(name)],
      okExitCodes: [1, 2, 3, 4],
      timeoutMs: 30_000,
    }),
    /**
     * Whether the unit exists, runs and is enabled, in one call: `is-active` says "inactive" (3)
     * for a unit that does not exist as for one that is stopped; LoadState tells them apart.
     */
    state: (name: string): Command => ({
      argv: [binary, "show", "--property=LoadState,ActiveState,UnitFileState", unit(name)],
      timeoutMs: 30_000,
    }),
  };
}

export interface UnitState {
  /** "loaded", or "not-found" when no such unit is installed. */
  load: string;
  /** "active", "inactive", "failed", … */
  active: string;
  /** "enabled", "disabled", "static", "masked", … ("" for a unit that does not exist). */
  unitFile: string;
}

/** `systemctl show --property=…` prints KEY=value lines in its own order. */
export function parseUnitState(text: string): UnitState {
  const v = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(text)?.[1]?.trim() ?? "";
  return { load: v("LoadState"), active: v("ActiveState"), unitFile: v("UnitFileState") };
}

/**
 * `systemd-analyze verify FILE`: parses the unit the way the manager would (unknown keys, bad
 * values, missing ExecStart binary). Non-zero exit on an error.
 */
export function verifyUnit(file: string, binary = "systemd-analyze"): Command {
  return { argv: [binary, "verify", file], timeoutMs: 60_000 };
}
