/**
 * Test harness: a private nginx master on a free port, with its own main config (rendered by
 * src/host/nginx) in a temp dir. No root paths are touched.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../src/exec/run";
import { nginx } from "../../src/host/nginx/commands";
import { renderMainConfig } from "../../src/host/nginx/render";
import { freePort } from "./ports";
import { makeTempDir, removeTempDir } from "./tmp";

export interface TestNginx {
  /** HTTP port of the default server and of vhosts rendered with `listenPort: port`. */
  port: number;
  binary: string;
  configFile: string;
  /** Included as `<sitesDir>/*.conf`; equals `<nginxDir>/sites` for Paths-based code. */
  sitesDir: string;
  nginxDir: string;
  logDir: string;
  acmeWebroot: string;
  /** Root of everything above. */
  dir: string;
  /** Fast shutdown + removal of the temp dir; safe to call twice. */
  stop(): Promise<void>;
}

export interface StartNginxOptions {
  binary?: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts nginx; see TestNginx. */
export async function startNginx(opts: StartNginxOptions = {}): Promise<TestNginx> {
  const dir = makeTempDir("odooops-nginx-");
  const nginxDir = join(dir, "nginx");
  const sitesDir = join(nginxDir, "sites");
  const runDir = join(dir, "run");
  const logDir = join(dir, "logs");
  const tempDir = join(dir, "temp");
  const acmeWebroot = join(dir, "acme-webroot");
  for (const d of [sitesDir, runDir, logDir, tempDir, acmeWebroot]) mkdirSync(d, { recursive: true, mode: 0o755 });
  const port = await freePort();
  const configFile = join(nginxDir, "nginx.conf");
  writeFileSync(
    configFile,
    renderMainConfig({ configFile, listenPort: port, sitesDir, runDir, logDir, tempDir, workerProcesses: 1 }),
  );
  const binary = opts.binary ?? "nginx";
  const pidFile = join(runDir, "nginx.pid");
  const masterPid = () => {
    try {
      return Number(readFileSync(pidFile, "utf8").trim());
    } catch {
      return 0;
    }
  };
  const killOnExit = () => {
    const pid = masterPid();
    if (pid > 0) process.kill(pid, "SIGTERM");
  };
  const stop = async () => {
    process.off("exit", killOnExit);
    const pid = masterPid();
    if (pid > 0 && alive(pid)) {
      process.kill(pid, "SIGTERM");
      const deadline = Date.now() + 10_000;
      while (alive(pid) && Date.now() < deadline) await Bun.sleep(20);
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
    removeTempDir(dir);
  };
  process.on("exit", killOnExit);
  try {
    await run(nginx({ binary, configFile }).start());
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, binary, configFile, sitesDir, nginxDir, logDir, acmeWebroot, dir, stop };
}

/**
 * A main config shaped like Debian's (`include <dir>/conf.d/*.conf;` in the http block, nothing
 * of odooops' included) in `dir`, for `nginx -T` checks; no nginx is started with it.
 */
export function writeDebianLikeNginxConf(dir: string): string {
  mkdirSync(join(dir, "conf.d"), { recursive: true });
  const file = join(dir, "nginx.conf");
  writeFileSync(
    file,
    `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n    include ${dir}/conf.d/*.conf;\n}\n`,
  );
  return file;
}
