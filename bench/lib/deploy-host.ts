/**
 * A whole odooops host for the deploy benchmarks (bench/rollback.ts, bench/deploy-reuse.ts):
 * a private PostgreSQL cluster and nginx (test/support), `dist/odooops serve` on a temp root
 * (nginx's dir, as in bench/env-create.ts), a local git repository with one addon as the
 * default project's repository, one dev env, and two deployed commits that differ only in
 * README.md. Both releases carry the same addons, so switching between them updates no module:
 * a rollback needs no --keep-db and a redeploy of either commit reuses its image.
 *
 * Everything it creates carries a random `b<8 hex>` docker name prefix or the env's label and is
 * removed by `stop()`, also after a failed setup.
 */
import { join } from "node:path";
import { run, type RunResult } from "../../src/exec/run";
import type { DeploymentView } from "../../src/deploy/schema";
import type { EnvDetail } from "../../src/env/schema";
import type { JobView } from "../../src/jobs/view";
import { makeRepo } from "../../test/git/repo";
import { hostConfig, randomPortBase, STANDIN_IMAGE, writeHostConfig } from "../../test/support/host-config";
import { removeByLabel, removeByNamePrefix, webContainerNames } from "../../test/support/docker";
import { startNginx, type TestNginx } from "../../test/support/nginx";
import { startPostgres, type TestPostgres } from "../../test/support/postgres";
import { makeTempDir, removeTempDir } from "../../test/support/tmp";
import { BINARY, benchCli, requireBinary, startDaemon, type Daemon, type TimedJob } from "./daemon";
import { cleanupOnExit } from "./proc";
import { median } from "./stats";

export const BASE_DOMAIN = "bench.localhost";
export const STEP_TIMEOUT_MS = 5 * 60_000;
const ENV_NAME = "bench";
const ADDON = "bench_addon";

/** The `deploy:` section of the daemon's config; drainSec 0 so no figure is the drain. */
export interface DeployConfig {
  drainSec: number;
  runTests: boolean;
  rehearse: boolean;
}

export interface Release {
  sha: string;
  /** `<prefix>-bench:<sha12>`, built by the setup's deploy of that commit. */
  image: string;
}

/** What the env's serving container runs with: the baselines start their containers the same way. */
export interface ContainerShape {
  name: string;
  image: string;
  network: string;
  confFile: string;
  dataDir: string;
  cpus: number;
  memoryMb: number;
}

export type Timed = TimedJob;

export interface DeployHost {
  prefix: string;
  root: string;
  tmp: string;
  nginx: TestNginx;
  env: Pick<EnvDetail, "id" | "slug" | "domain">;
  releases: [Release, Release];
  cli(...argv: string[]): Promise<RunResult>;
  /** Spawn → exit of a `--wait` command that runs one job; the job and its log after. */
  timedJob(argv: string[]): Promise<Timed>;
  serving(): Promise<ContainerShape>;
  /** Stops the daemon, rewrites the config's deploy section and starts it again. */
  restart(deploy: DeployConfig): Promise<void>;
  /** Idempotent; also runs on SIGINT/SIGTERM. */
  stop(): Promise<void>;
}

function writeConfig(
  root: string,
  pg: TestPostgres,
  nginx: TestNginx,
  prefix: string,
  ports: number,
  deploy: DeployConfig,
): void {
  writeHostConfig(
    root,
    hostConfig(
      { pg, nginx, baseDomain: BASE_DOMAIN, namePrefix: prefix, portsFrom: ports },
      { deploy: { ...deploy, healthTimeoutSec: 60, install: [ADDON] } },
    ),
  );
}

const manifest = `# -*- coding: utf-8 -*-\n{\n    'name': 'Bench addon',\n    'version': '17.0.1.0',\n    'depends': ['base'],\n}\n`;
const passingTest = "import sys\nsys.exit(0)\n";

/** ISO timestamp of the first job log line containing `needle`, as ms since the epoch. */
export function logTime(log: string, needle: string): number | null {
  const line = log.split("\n").find((l) => l.includes(needle));
  const t = line ? Date.parse(line.slice(0, line.indexOf(" "))) : Number.NaN;
  return Number.isFinite(t) ? t : null;
}

/** Step name → duration (ms) of a finished job's steps. */
export function stepDurations(job: JobView): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of job.steps) if (s.durationMs !== null) out[s.name] = s.durationMs;
  return out;
}

export async function startDeployHost(deploy: DeployConfig): Promise<DeployHost> {
  requireBinary();
  const prefix = `b${crypto.randomUUID().slice(0, 8)}`;
  const tmp = makeTempDir("odooops-bench-deploy-");
  const ports = randomPortBase();
  let pg: TestPostgres | null = null;
  let nginx: TestNginx | null = null;
  let daemon: Daemon | null = null;
  let envId: string | null = null;

  // Ctrl-C during setup or a round still removes everything.
  const stop = cleanupOnExit(async () => {
    await daemon?.stop();
    daemon = null;
    // Containers, networks and images labelled for the env; then anything named with the prefix
    // (the baselines' containers, release images whatever their labels say).
    if (envId) await removeByLabel(`odooops.env=${envId}`);
    await removeByNamePrefix(prefix);
    await nginx?.stop();
    await pg?.stop();
    removeTempDir(tmp);
  });

  try {
    pg = await startPostgres({ dockerAccess: false });
    nginx = await startNginx();
    const root = nginx.dir;
    writeConfig(root, pg, nginx, prefix, ports, deploy);
    daemon = await startDaemon(root);

    const { cli, timedJob } = benchCli(root, STEP_TIMEOUT_MS);

    const repo = await makeRepo(join(tmp, "repo"));
    const shas: string[] = [];
    shas.push(
      await repo.commit({
        [`${ADDON}/__manifest__.py`]: manifest,
        [`${ADDON}/__init__.py`]: "",
        [`${ADDON}/tests/test_ok.py`]: passingTest,
        "README.md": "bench addons, first\n",
      }),
    );
    shas.push(await repo.commit({ "README.md": "bench addons, second\n" }));
    await cli("project", "set", "default", "--repo", repo.url);
    await cli("env", "create", ENV_NAME, "--tier", "dev", "--wait");
    const env = JSON.parse((await cli("env", "get", ENV_NAME, "--json")).stdout) as EnvDetail;
    envId = env.id;
    for (const sha of shas) await timedJob(["deploy", ENV_NAME, "--sha", sha, "--wait"]);
    const list = JSON.parse((await cli("deploy", "list", ENV_NAME, "--json")).stdout) as DeploymentView[];
    const releases = shas.map((sha) => {
      const d = list.find((x) => x.commit === sha && x.status === "success" && x.image);
      if (!d?.image) throw new Error(`no successful deployment of ${sha} in ${JSON.stringify(list)}`);
      return { sha, image: d.image };
    }) as [Release, Release];
    if (releases[0].image === releases[1].image)
      throw new Error(`both commits got the same image ${releases[0].image}`);

    const serving = async (): Promise<ContainerShape> => {
      const names = await webContainerNames(env.id);
      if (names.length !== 1)
        throw new Error(`expected one running release of ${env.slug}, found: ${names.join(", ") || "none"}`);
      return inspectShape(names[0] as string);
    };

    return {
      prefix,
      root,
      tmp,
      nginx,
      env: { id: env.id, slug: env.slug, domain: env.domain },
      releases,
      cli,
      timedJob,
      serving,
      async restart(next) {
        await daemon?.stop();
        daemon = null;
        writeConfig(root, pg as TestPostgres, nginx as TestNginx, prefix, ports, next);
        daemon = await startDaemon(root);
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

interface Inspected {
  Name: string;
  Config: { Image: string };
  HostConfig: { NanoCpus: number; Memory: number };
  Mounts: { Source: string; Destination: string }[];
  NetworkSettings: { Networks: Record<string, unknown> };
}

export async function inspectShape(name: string): Promise<ContainerShape> {
  const [c] = JSON.parse((await run({ argv: ["docker", "container", "inspect", name] })).stdout) as Inspected[];
  if (!c) throw new Error(`docker inspect ${name}: nothing`);
  const mount = (target: string) => {
    const m = c.Mounts.find((x) => x.Destination === target);
    if (!m) throw new Error(`${name} has no mount at ${target}`);
    return m.Source;
  };
  const network = Object.keys(c.NetworkSettings.Networks)[0];
  if (!network) throw new Error(`${name} is on no network`);
  return {
    name: c.Name.replace(/^\//, ""),
    image: c.Config.Image,
    network,
    confFile: mount("/etc/odoo/odoo.conf"),
    dataDir: mount("/var/lib/odoo"),
    cpus: c.HostConfig.NanoCpus / 1e9,
    memoryMb: Math.round(c.HostConfig.Memory / 1048576),
  };
}

/**
 * `docker run --detach` argv for a container shaped like the env's release container (same
 * network, mounts, limits, restart policy, log options), published on 127.0.0.1.
 */
export function releaseLikeRun(
  shape: ContainerShape,
  name: string,
  image: string,
  ports: { http: number; longpoll: number },
): string[] {
  return [
    "docker",
    "run",
    "--detach",
    "--name",
    name,
    "--label",
    "odooops.bench=baseline",
    "--publish",
    `127.0.0.1:${ports.http}:8069`,
    "--publish",
    `127.0.0.1:${ports.longpoll}:8072`,
    "--cpus",
    String(shape.cpus),
    "--memory",
    `${shape.memoryMb}m`,
    "--memory-swap",
    `${shape.memoryMb}m`,
    "--restart",
    "unless-stopped",
    "--stop-timeout",
    "30",
    "--network",
    shape.network,
    "--add-host",
    "host.docker.internal:host-gateway",
    "--mount",
    `type=bind,source=${shape.dataDir},target=/var/lib/odoo`,
    "--mount",
    `type=bind,source=${shape.confFile},target=/etc/odoo/odoo.conf,readonly`,
    "--log-opt",
    "max-size=50m",
    "--log-opt",
    "max-file=5",
    image,
  ];
}

/** One `/web/health?db_server_status=1` probe: 200 with `"status": "pass"`. */
export async function healthy(url: string, host?: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/web/health?db_server_status=1`, {
      headers: host ? { host } : {},
      signal: AbortSignal.timeout(2000),
      keepalive: false,
    });
    return res.status === 200 && /"status"\s*:\s*"pass"/.test(await res.text());
  } catch {
    return false;
  }
}

/** Polls health every `intervalMs` until it passes; throws after `timeoutMs`. */
export async function waitHealthy(url: string, timeoutMs: number, intervalMs: number, host?: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await healthy(url, host)) return;
    await Bun.sleep(intervalMs);
  }
  throw new Error(`${url}${host ? ` (Host ${host})` : ""} not healthy within ${timeoutMs} ms`);
}

export async function header(what: string): Promise<void> {
  const version = (await run({ argv: [BINARY, "--version"] })).stdout.trim();
  const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
  console.log(
    `odooops ${version} · ${navigator.hardwareConcurrency} cores · load ${load} · ${new Date().toISOString().slice(0, 16)}Z · image ${STANDIN_IMAGE} · ${what}`,
  );
}

/** Medians of one docker CLI call and of the CLI's own start-up: the units the notes use. */
export async function referenceCalls(prefix: string): Promise<string> {
  const med = async (argv: string[]) => {
    const t: number[] = [];
    for (let i = 0; i < 5; i++) t.push((await run({ argv }, { nothrow: true })).durationMs);
    return median(t);
  };
  const docker = await med(["docker", "rm", "--force", `${prefix}-absent`]);
  const cli = await med([BINARY, "--version"]);
  return `One docker CLI call (\`docker rm --force\` of an absent container): median ${Math.round(docker)} ms; \`odooops --version\`: median ${Math.round(cli)} ms.`;
}
