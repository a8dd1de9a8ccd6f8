/** nginx: installed, configuration valid and including odooops' vhosts, running; ports 80/443. */
import { errorText } from "../errors";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Config } from "../config/schema";
import { run } from "../exec/run";
import { nginxHost, nginxStart, pidFileOf, reload } from "../host/nginx";
import { type Check, type CommandFix, fail, fix, type Hint, pass, skip, warn } from "./check";
import { odooopsArgv } from "./context";
import { packageHint } from "./packages";
import { nginxDump, nginxVersion } from "./commands";
import { firstLine, isMissingBinary } from "./docker-probe";
import { portHolders, type Holder } from "./ports";

/** "nginx version: nginx/1.22.1" → "1.22.1". */
export function parseNginxVersion(text: string): string | null {
  return /nginx\/(\S+)/.exec(text)?.[1] ?? null;
}

export const nginxCheck: Check = {
  id: "nginx",
  title: "nginx installed, configuration valid, running",
  async run(ctx) {
    if (!ctx.config) return skip("config invalid");
    const { binary, configFile } = ctx.config.nginx;
    let version: string | null;
    try {
      const v = await run(nginxVersion(binary), { nothrow: true });
      version = parseNginxVersion(v.stderr + v.stdout);
    } catch (e) {
      if (isMissingBinary(e)) return fail(`${binary} not found`, await packageHint("nginx", "nginx"), ["nginx"]);
      throw e;
    }
    if (!existsSync(configFile))
      return fail(`${configFile} does not exist`, "set nginx.configFile to nginx's main configuration file");
    // Read before `nginx -T`: with no master running, it leaves an empty pid file behind.
    const master = masterState(pidFileOf(configFile));
    const t = await run(nginxDump(binary, configFile), { nothrow: true });
    if (t.exitCode !== 0)
      return fail(
        `nginx -t rejects ${configFile}: ${firstLine(t.stderr.replace(/^nginx: /gm, ""))}`,
        "fix the file and line named in the message (odooops' vhosts are in <root>/nginx/sites)",
      );
    if (!master.running) {
      // A master that runs under a wrong pid file holds the ports: starting another fails, and
      // env create's reload (through the pid file) fails too. Only a restart puts them right.
      const live = mastersOf(configFile);
      return live.length > 0
        ? fail(
            `nginx master ${live.join(", ")} runs but ${master.why}: reloads through the pid file fail`,
            lostMasterHint(live, binary, configFile, ctx.systemd),
          )
        : fail(`nginx is not running: ${master.why}`, startHint(binary, configFile, ctx.systemd));
    }
    const sites = nginxHost(ctx.config.nginx, ctx.paths).sitesDir;
    if (!t.stdout.includes(sites)) {
      // Debian's layout includes conf.d/*.conf in its http block: init writes its one-line snippet there.
      const confD = `${dirname(configFile)}/conf.d/*.conf`;
      const hint: Hint =
        t.stdout.includes(`include ${confD};`) || /include\s+conf\.d\/\*\.conf;/.test(t.stdout)
          ? fix(
              odooopsArgv(ctx.paths, "init", "--yes"),
              `writes ${dirname(configFile)}/conf.d/odooops.conf including the vhosts; other settings are kept`,
            )
          : `add "include ${sites}/*.conf;" to the http block of ${configFile}`;
      return warn(`${configFile} does not include ${sites}/*.conf: odooops' vhosts would not be served`, hint);
    }
    // env create reloads after writing a vhost: a reload is harmless to a running nginx (the
    // master keeps the old config if the new one fails) and proves the signal path works.
    try {
      await reload(ctx.config.nginx);
    } catch (e) {
      return fail(`nginx reload fails: ${firstLine(errorText(e))}`, restartHint(binary, configFile, ctx.systemd));
    }
    return pass(
      `nginx ${version ?? "?"} running (master pid ${master.pid}), ${configFile} valid, includes ${sites}, reload works`,
    );
  },
};

/** The command that starts nginx on this host with the config odooops uses (init runs the same one). */
export function startHint(binary: string, configFile: string, systemd: boolean): CommandFix {
  // enable as well: the unit stopped may also be one that would not start at the next boot.
  if (systemd && configFile === "/etc/nginx/nginx.conf") return fix(["systemctl", "enable", "--now", "nginx"]);
  return fix(nginxStart({ binary, configFile }).argv);
}

/**
 * A master that does not take a reload: systemd restarts its unit; elsewhere it takes two
 * commands (a second master cannot start while the first holds the ports), so it stays advice.
 */
export function restartHint(binary: string, configFile: string, systemd: boolean): Hint {
  if (systemd && configFile === "/etc/nginx/nginx.conf") return fix(["systemctl", "restart", "nginx"]);
  const c = configFile === "/etc/nginx/nginx.conf" ? [] : ["-c", configFile];
  return `stop the master (${[binary, "-s", "quit", ...c].join(" ")}), then start it: ${[binary, ...c].join(" ")}`;
}

/**
 * A master the pid file lost: `nginx -s quit` goes through that file too, so outside systemd
 * (whose unit knows its main process) it is stopped by its pid before starting again.
 */
export function lostMasterHint(masters: number[], binary: string, configFile: string, systemd: boolean): Hint {
  if (systemd && configFile === "/etc/nginx/nginx.conf") return fix(["systemctl", "restart", "nginx"]);
  const start = nginxStart({ binary, configFile }).argv.join(" ");
  return `stop the master (kill -QUIT ${masters.join(" ")}), then start it: ${start}`;
}

/**
 * env create reloads nginx through its pid file: an empty or stale one fails there with
 * `invalid PID number "" in /run/nginx.pid` (`nginx -t` leaves an empty one when no master
 * runs), so doctor judges the same file.
 */
export function masterState(pidFile: string): { running: true; pid: number } | { running: false; why: string } {
  let text: string;
  try {
    text = readFileSync(pidFile, "utf8").trim();
  } catch {
    return { running: false, why: `${pidFile} does not exist` };
  }
  if (text === "") return { running: false, why: `${pidFile} is empty` };
  if (!/^[1-9]\d*$/.test(text)) return { running: false, why: `${pidFile} holds ${JSON.stringify(text)}, not a pid` };
  const pid = Number(text);
  let comm: string;
  try {
    comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return { running: false, why: `no process ${pid} (from ${pidFile})` };
  }
  if (comm !== "nginx") return { running: false, why: `process ${pid} (from ${pidFile}) is ${comm}, not nginx` };
  return { running: true, pid };
}

/**
 * The nginx masters running with `configFile` (`-c FILE`, or no `-c` for the default file), by
 * their process title ("nginx: master process /usr/sbin/nginx -c FILE").
 */
export function mastersOf(configFile: string): number[] {
  const isDefault = configFile === "/etc/nginx/nginx.conf";
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let title: string;
    try {
      title = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
    } catch {
      continue;
    }
    if (!title.startsWith("nginx: master process")) continue;
    const file = / -c (\S+)/.exec(title)?.[1];
    if (isDefault ? file === undefined || file === configFile : file === configFile) found.push(Number(entry));
  }
  return found;
}

function childOf(h: Holder, master: number): boolean {
  return h.pid === master || h.ppid === master;
}

function nginxMaster(configFile: string): number {
  try {
    const m = masterState(pidFileOf(configFile));
    return m.running ? m.pid : 0;
  } catch {
    // No config file: no master to recognise.
    return 0;
  }
}

function portCheck(id: string, which: string, pick: (c: Config["nginx"]) => number): Check {
  return {
    id,
    title: `${which} port free or held by odooops' nginx`,
    async run(ctx) {
      if (!ctx.config) return skip("config invalid");
      const port = pick(ctx.config.nginx);
      const { listening, holders } = portHolders(port);
      if (!listening) return pass(`port ${port} is free`);
      const master = nginxMaster(ctx.config.nginx.configFile);
      if (master > 0 && holders.some((h) => childOf(h, master)))
        return pass(`port ${port} is served by odooops' nginx (master pid ${master})`);
      const who =
        holders.length > 0
          ? holders.map((h) => `${h.name} (pid ${h.pid})`).join(", ")
          : "a process this user cannot see";
      return fail(
        `port ${port} is taken by ${who}`,
        `stop it, or move it off port ${port}: nginx must answer ${which}${holders.length === 0 ? " (run doctor as root to see the process)" : ""}`,
      );
    },
  };
}

export const httpPortCheck = portCheck("port-http", "HTTP", (c) => c.httpPort);
export const httpsPortCheck = portCheck("port-https", "HTTPS", (c) => c.httpsPort);
