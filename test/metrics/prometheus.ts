/**
 * Test harness: Debian's real `prometheus` and `prometheus-alertmanager`, each on a free loopback
 * port with its data in the caller's temp dir, plus the daemon's API served over real HTTP for
 * Prometheus to scrape. `stop()` kills only the process it started.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnStreaming } from "../../src/exec/run";
import { freePort } from "../support/ports";

export interface Proc {
  url: string;
  /** Its log (stderr), for a failure message. */
  log(): string;
  stop(): Promise<void>;
}

/** Starts `argv` and waits until `url/-/ready` answers 200 (or the process exits). */
async function startReady(argv: string[], url: string): Promise<Proc> {
  const p = spawnStreaming({ argv });
  let log = "";
  const drain = async (s: ReadableStream<Uint8Array>) => {
    const d = new TextDecoder();
    for await (const chunk of s) log = `${log}${d.decode(chunk)}`.slice(-20_000);
  };
  void drain(p.stdout);
  const exited = p.done().catch((e: unknown) => e);
  const kill = () => p.proc.kill("SIGKILL");
  process.on("exit", kill);
  const proc: Proc = {
    url,
    log: () => log,
    async stop() {
      process.off("exit", kill);
      p.proc.kill("SIGTERM");
      await Promise.race([p.proc.exited, Bun.sleep(5000)]);
      p.proc.kill("SIGKILL");
      await p.proc.exited;
    },
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (p.proc.exitCode !== null) throw new Error(`${argv[0]} exited: ${String(await exited)}`);
    const r = await fetch(`${url}/-/ready`).catch(() => null);
    if (r?.status === 200) return proc;
    await Bun.sleep(200);
  }
  await proc.stop();
  throw new Error(`${argv[0]} not ready within 30 s`);
}

export async function startPrometheus(opts: {
  dir: string;
  /** host:port of the odooops API. */
  target: string;
  tokenFile: string;
  ruleFiles?: string[];
  alertmanager?: string;
}): Promise<Proc> {
  const port = await freePort();
  const config = {
    global: { scrape_interval: "1s", evaluation_interval: "1s", scrape_timeout: "1s" },
    rule_files: opts.ruleFiles ?? [],
    ...(opts.alertmanager
      ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [opts.alertmanager] }] }] } }
      : {}),
    scrape_configs: [
      {
        // docs/metrics.md: the job is named odooops (OdooopsStateBackupMissing and the dashboard rely on it).
        job_name: "odooops",
        metrics_path: "/api/v1/metrics",
        authorization: { type: "Bearer", credentials_file: opts.tokenFile },
        static_configs: [{ targets: [opts.target] }],
      },
    ],
  };
  const file = join(opts.dir, "prometheus.yml");
  // JSON is YAML.
  writeFileSync(file, JSON.stringify(config, null, 1));
  return startReady(
    [
      "prometheus",
      `--config.file=${file}`,
      `--storage.tsdb.path=${join(opts.dir, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    `http://127.0.0.1:${port}`,
  );
}

export async function startAlertmanager(opts: { dir: string; configFile: string }): Promise<Proc> {
  const port = await freePort();
  return startReady(
    [
      "prometheus-alertmanager",
      `--config.file=${opts.configFile}`,
      `--storage.path=${join(opts.dir, "alertmanager")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // No gossip port: a single instance, and no listener beyond the one above.
      "--cluster.listen-address=",
    ],
    `http://127.0.0.1:${port}`,
  );
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query through Prometheus' HTTP API; throws on a query error. */
export async function query(prometheus: string, expr: string): Promise<Sample[]> {
  const res = await fetch(`${prometheus}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  if (body.status !== "success") throw new Error(`${expr}: ${body.error ?? res.status}`);
  const result = body.data?.result;
  if (body.data?.resultType === "scalar") return [{ metric: {}, value: result as [number, string] }];
  return result as Sample[];
}

/** The scrape target's health as Prometheus sees it ("up", "down", "unknown"), with its last error. */
export async function targetHealth(prometheus: string): Promise<{ health: string; lastError: string } | null> {
  const res = await fetch(`${prometheus}/api/v1/targets`);
  const body = (await res.json()) as { data: { activeTargets: { health: string; lastError: string }[] } };
  return body.data.activeTargets[0] ?? null;
}

/** Polls `check` until it returns a value (not undefined), at most `ms`. */
export async function eventually<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await check();
    if (v !== undefined) return v;
    await Bun.sleep(250);
  }
  throw new Error(`${what}: not within ${ms / 1000} s`);
}
