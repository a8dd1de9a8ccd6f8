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
  };
}

/**
 * `systemd-analyze verify FILE`: parses the unit the way the manager would (unknown keys, bad
 * values, missing ExecStart binary). Non-zero exit on an error.
 */
export function verifyUnit(file: string, binary = "systemd-analyze"): Command {
  return { argv: [binary, "verify", file], timeoutMs: 60_000 };
}
