/**
 * docker, nginx and PostgreSQL running before init sets anything up. Where systemd is PID 1 each
 * installed unit that is not active, or not enabled, is enabled and started. Elsewhere (a container, a host
 * without an init system) nothing would start them at boot: init starts nginx itself when
 * allowed (PostgreSQL: see pg-apply, `pg_ctlcluster … start`) and prints the exact command for
 * the docker engine, which it does not run in the background for you.
 */
import { existsSync } from "node:fs";
import type { Config } from "../config/schema";
import { run } from "../exec/run";
import { parseUnitState, systemctl } from "../host/systemd";
import { masterState } from "../doctor/nginx";
import { nginxStart, pidFileOf } from "../host/nginx";
import { dockerdStartHere } from "../doctor/commands";
import { probeDocker } from "../doctor/docker-probe";

export const UNITS = ["docker.service", "nginx.service", "postgresql.service"] as const;

function nginxInstalled(cfg: Config["nginx"]): Promise<boolean> {
  return run({ argv: [cfg.binary, "-v"], timeoutMs: 20_000 }, { nothrow: true }).then(
    () => true,
    () => false,
  );
}

/** `allow` is asked (once) only when something is not running. */
export async function startServices(opts: {
  config: Config;
  systemd: boolean;
  allow(): Promise<boolean>;
  step(m: string): void;
  warn(m: string): void;
}): Promise<string[]> {
  const started: string[] = [];
  let answer: Promise<boolean> | null = null;
  const allowed = () => (answer ??= opts.allow());
  if (opts.systemd) {
    const sc = systemctl();
    for (const unit of UNITS) {
      const s = parseUnitState((await run(sc.state(unit))).stdout);
      if (s.load === "not-found") continue; // that package is not installed
      if (s.load === "masked") {
        opts.warn(`${unit} is masked: systemctl unmask ${unit}, then run init again`);
        continue;
      }
      // Running but disabled is fixed too: the next boot would come up without it.
      if (s.active === "active" && s.unitFile !== "disabled") continue;
      if (!(await allowed())) {
        opts.warn(
          `${unit} is ${s.active === "active" ? "not enabled" : "not running"}: systemctl enable --now ${unit}`,
        );
        continue;
      }
      await run(sc.enableNow(unit));
      opts.step(s.active === "active" ? `enabled ${unit} (it was running)` : `enabled and started ${unit}`);
      started.push(unit);
    }
    return started;
  }
  const nginx = opts.config.nginx;
  // nginx not installed (no binary, no config file to find its pid file in): nothing to start.
  if (
    (await nginxInstalled(nginx)) &&
    existsSync(nginx.configFile) &&
    !masterState(pidFileOf(nginx.configFile)).running
  ) {
    const cmd = nginxStart(nginx);
    if (await allowed()) {
      await run(cmd);
      opts.step(`started nginx (${cmd.argv.join(" ")}); systemd is not running here, so nothing starts it at boot`);
      started.push("nginx");
    } else opts.warn(`nginx is not running: ${cmd.argv.join(" ")}`);
  }
  const d = await probeDocker(opts.config.docker.binary);
  if (!d.ok && !d.missing)
    opts.warn(
      `the docker engine is not reachable (${d.error}); systemd is not running here, start it with: ${dockerdStartHere().argv.join(" ")}`,
    );
  return started;
}
