/**
 * Makes the host's nginx serve odooops' vhosts: Debian's nginx.conf includes conf.d/*.conf in
 * its http block, so one snippet there (`include <root>/nginx/sites/*.conf;`) is enough and the
 * distribution's file stays untouched. Checked with `nginx -T` before and after; a config nginx
 * rejects is removed again.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Config } from "../config/schema";
import type { Paths } from "../config/paths";
import { nginxDump } from "../doctor/commands";
import { run } from "../exec/run";
import { nginxHost, pidFileOf, reload } from "../host/nginx";

export type NginxWiring =
  | { status: "included"; how: "already" | "snippet"; file?: string }
  | { status: "manual"; reason: string }
  | { status: "skipped"; reason: string };

/** `nginx -T` leaves an empty pid file behind: only a pid of a live process means a running master. */
function masterRunning(configFile: string): boolean {
  const pid = Number((existsSync(pidFileOf(configFile)) ? readFileSync(pidFileOf(configFile), "utf8") : "").trim());
  return Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}`);
}

export function includeSnippet(sitesDir: string): string {
  return `# Written by odooops init: serve the vhosts odooops manages.\ninclude ${sitesDir}/*.conf;\n`;
}

export async function wireNginx(config: Config, paths: Paths): Promise<NginxWiring> {
  const { binary, configFile } = config.nginx;
  if (!existsSync(configFile))
    return { status: "skipped", reason: `${configFile} does not exist (nginx not installed?)` };
  const sites = nginxHost(config.nginx, paths).sitesDir;
  mkdirSync(sites, { recursive: true });
  const dump = async () => run(nginxDump(binary, configFile), { nothrow: true });
  const before = await dump();
  if (before.exitCode !== 0)
    return { status: "manual", reason: `nginx rejects ${configFile} as it is: ${before.stderr.trim().split("\n")[0]}` };
  if (before.stdout.includes(`${sites}/*.conf`)) return { status: "included", how: "already" };
  const confD = join(dirname(configFile), "conf.d");
  if (!before.stdout.includes(`${confD}/*.conf`) && !/include\s+conf\.d\/\*\.conf;/.test(before.stdout)) {
    return {
      status: "manual",
      reason: `${configFile} does not include ${confD}/*.conf; add "include ${sites}/*.conf;" to its http block`,
    };
  }
  const file = join(confD, "odooops.conf");
  mkdirSync(confD, { recursive: true });
  writeFileSync(file, includeSnippet(sites), { mode: 0o644 });
  const after = await dump();
  if (after.exitCode !== 0 || !after.stdout.includes(`${sites}/*.conf`)) {
    rmSync(file, { force: true });
    return { status: "manual", reason: `nginx did not accept ${file}: ${after.stderr.trim().split("\n")[0]}` };
  }
  if (masterRunning(configFile)) await reload(config.nginx);
  return { status: "included", how: "snippet", file };
}
