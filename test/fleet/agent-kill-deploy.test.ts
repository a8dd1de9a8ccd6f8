/**
 * kill -9 of a remote agent in the middle of a deploy (issue 16, "Proven in CI"): the coordinator
 * requeues the job once its lease expires, the agent started again resumes it, and afterwards
 * exactly one release serves. Real processes: the agent is `bun src/main.ts serve` (role agent)
 * with its own root, PostgreSQL, nginx and docker name prefix; the deploys go through the
 * coordinator's API from a git repository. Two points of the kill: (a) while the new release
 * boots beside the serving one (`start`; the repository's Dockerfile makes the stand-in boot
 * slowly, so the kill surely lands there), (b) inside `switch`, after nginx points at the new
 * release and before the old one is stopped (the drain holds it there).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { resolvePaths } from "../../src/config/paths";
import { startDaemon } from "../../src/daemon/serve";
import { loadDeployment } from "../../src/deploy/records";
import type { DeployOutcome, DeploymentView } from "../../src/deploy/schema";
import { loadEnvById } from "../../src/env/lookup";
import type { EnvDetail } from "../../src/env/schema";
import { LABEL_ENV, LABEL_ROLE } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { LeaseLost } from "../../src/jobs/queue";
import { TERMINAL } from "../../src/jobs/status";
import type { JobView } from "../../src/jobs/view";
import { makeRepo, type TestRepo } from "../git/repo";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { agentProcesses } from "../support/fleet";
import { hostConfig, randomPortBase, writeHostConfig } from "../support/host-config";
import { startNginx, type TestNginx } from "../support/nginx";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { until } from "../support/wait";

const ADMIN_PASSWORD = "agent-kill-deploy-pw";
const AGENT = "kill-deploy-agent";
/** Seconds the new release sleeps before it binds its ports: the window of kill (a). */
const BOOT_DELAY_SEC = 8;
const manifest = `{'name': 'Shop extra', 'version': '1.0', 'depends': ['base']}\n`;
/** The repository's own Dockerfile (src/deploy/build.ts): the template's, plus a slow boot. */
const slowDockerfile = `ARG ODOO_IMAGE\nFROM \${ODOO_IMAGE}\nENV STANDIN_BOOT_DELAY=${BOOT_DELAY_SEC}\nCOPY . /mnt/extra-addons\n`;

const prefix = testNamePrefix();
const agentPrefix = `${prefix}a`;
let pgs: TestPostgres[] = [];
let nginxes: TestNginx[] = [];
let coordinator: Awaited<ReturnType<typeof startDaemon>>;
let agentRoot: string;
let agentNginx: TestNginx;
let token: string;
let repo: TestRepo;
let repoDir: string;
let agent: Subprocess;
let env: EnvDetail;
const agents = agentProcesses(() => coordinator, 1);

const waitFor = <T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false) =>
  until(what, probe, 240_000, 100);

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${coordinator.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

const jobView = (id: string) => coordinator.deps.jobs.queue.view(id);
const stepStatus = (id: string, name: string) => jobView(id).steps.find((s) => s.name === name)?.status;

async function waitJob(id: string): Promise<JobView> {
  return waitFor(`job ${id} finished`, () => {
    const v = jobView(id);
    return TERMINAL.has(v.status) ? v : null;
  });
}

const health = async () =>
  (
    await fetch(`http://127.0.0.1:${agentNginx.port}/web/health?db_server_status=1`, {
      headers: { host: env.domain },
      keepalive: false,
      signal: AbortSignal.timeout(10_000),
    })
  ).status;

/** The web containers of the env on the agent's docker: name → running. */
async function webContainers(): Promise<Map<string, boolean>> {
  const r = await run({
    argv: [
      "docker",
      "ps",
      "-a",
      "--filter",
      `label=${LABEL_ENV}=${env.id}`,
      "--filter",
      `label=${LABEL_ROLE}=web`,
      "--format",
      "{{.Names}}\t{{.State}}",
    ],
  });
  const rows = r.stdout.split("\n").filter(Boolean);
  return new Map(rows.map((l) => [l.split("\t")[0]!, l.split("\t")[1] === "running"]));
}

async function httpPortOf(container: string): Promise<number | null> {
  const r = await run(
    {
      argv: [
        "docker",
        "inspect",
        "--format",
        '{{(index (index .NetworkSettings.Ports "8069/tcp") 0).HostPort}}',
        container,
      ],
    },
    { nothrow: true },
  );
  return r.exitCode === 0 ? Number(r.stdout.trim()) : null;
}

/** The port the agent's nginx sends the env's HTTP traffic to, from its vhost. */
function upstreamPort(): number | null {
  const vhost = readFileSync(join(resolvePaths(agentRoot).nginxDir, "sites", `${env.slug}.conf`), "utf8");
  const m = /upstream odooops_\S+_http \{\s*server [^:;\s]+:(\d+);/.exec(vhost);
  return m ? Number(m[1]) : null;
}

async function deploy(): Promise<{ deployment: DeploymentView; job: JobView }> {
  const res = await api<DeployOutcome>("POST", `/environments/${env.slug}/deployments`, {});
  expect(res.status).toBe(202);
  if (res.body.dryRun) throw new Error("unexpected dry run");
  return { deployment: res.body.deployment, job: res.body.job };
}

const deploymentOf = async (id: string) => (await api<DeploymentView>("GET", `/deployments/${id}`)).body;

beforeAll(async () => {
  repoDir = makeTempDir("odooops-kill-deploy-repo-");
  repo = await makeRepo(repoDir);
  await repo.commit({ "shop_extra/__manifest__.py": manifest, "README.md": "addons\n" });
  const [coordPg, agentPg, coordNginx, aNginx] = await Promise.all([
    startPostgres({ dockerAccess: false }),
    startPostgres({ dockerAccess: false }),
    startNginx(),
    startNginx(),
  ]);
  pgs = [coordPg, agentPg];
  nginxes = [coordNginx, aNginx];
  agentNginx = aNginx;
  const host = (pg: TestPostgres, nginx: TestNginx, namePrefix: string, extra: Record<string, unknown>) =>
    hostConfig(
      { pg, nginx, baseDomain: "test.localhost", namePrefix, portsFrom: randomPortBase(), portCount: 200 },
      {
        // Small disk needs: placement counts measured free disk, shared by every test running.
        tiers: { dev: { cpus: 0.5, memoryMb: 512, storageGb: 1 } },
        // The drain holds `switch` between the nginx switch and the old release's stop (kill b).
        deploy: { drainSec: 6, healthTimeoutSec: 90, install: ["shop_extra"] },
        ...extra,
      },
    );
  writeHostConfig(
    coordNginx.dir,
    host(coordPg, coordNginx, `${prefix}c`, { role: "coordinator", fleet: { listen: "127.0.0.1:0", heartbeatSec: 1 } }),
  );
  coordinator = await startDaemon({
    root: coordNginx.dir,
    listen: "127.0.0.1:0",
    env: { ...process.env, ODOOOPS_ADMIN_PASSWORD: ADMIN_PASSWORD },
  });
  token = (await coordinator.deps.auth.login("admin", ADMIN_PASSWORD)).token;
  agentRoot = aNginx.dir;
  agents.join(
    agentRoot,
    host(agentPg, aNginx, agentPrefix, { role: "agent", fleet: { heartbeatSec: 1 } }),
    coordinator.deps.fleet.createJoinToken({ name: AGENT }).token,
  );
  agent = agents.start(agentRoot);
  await agents.firstHeartbeat(AGENT, 150_000);
  expect((await api("PUT", "/projects/default", { repoUrl: repo.url })).status).toBe(200);

  const created = await api<{ env: { slug: string }; job: JobView }>("POST", "/environments", {
    name: "kill-deploy",
    tier: "dev",
    host: AGENT,
  });
  expect(created.status).toBe(202);
  expect((await waitJob(created.body.job.id)).error).toBeNull();
  env = (await api<EnvDetail>("GET", `/environments/${created.body.env.slug}`)).body;
  expect(env.host).toBe(AGENT);
  // The first successful deploy: the release the killed deploys start beside.
  const first = await deploy();
  expect((await waitJob(first.job.id)).error).toBeNull();
  expect((await deploymentOf(first.deployment.id)).status).toBe("success");
}, 400_000);

afterAll(async () => {
  await agents.killAll();
  await coordinator?.stop();
  await removeByNamePrefix(prefix);
  await Promise.all([...pgs.map((p) => p.stop()), ...nginxes.map((n) => n.stop())]);
  if (repoDir) removeTempDir(repoDir);
}, 120_000);

/** How many times the log shows step `title` starting. */
const runsOf = (log: string, title: string) => log.split(`▶ ${title}\n`).length - 1;

/** kill -9 of the agent; the owner of the job's lease at that moment (the killed process's). */
async function killAgent(jobId: string): Promise<string> {
  agent.kill("SIGKILL");
  await agent.exited;
  const owner = coordinator.deps.jobs.queue.row(jobId).leaseOwner;
  if (!owner) throw new Error(`job ${jobId} was not leased when the agent was killed`);
  return owner;
}

/**
 * The agent started again once the killed one's lease is gone; the job ended. Checks that one
 * lease at a time held it: the killed owner's lease was given back before the second attempt
 * (the requeue line comes first in the log), the killed owner may no longer report, and the job
 * ran exactly twice.
 */
async function restartAndFinish(jobId: string, killedOwner: string): Promise<{ view: JobView; log: string }> {
  const queue = coordinator.deps.jobs.queue;
  await waitFor("the killed agent's lease expired and the job requeued", () => queue.row(jobId).status === "queued");
  expect(queue.row(jobId).leaseOwner).toBeNull();
  agent = agents.start(agentRoot);
  const view = await waitJob(jobId);
  const row = queue.row(jobId);
  expect(row.attempts).toBe(2);
  const log = coordinator.deps.jobs.logs.read(jobId, 0).text;
  const requeued = log.indexOf(`agent ${killedOwner} went away; job requeued to resume`);
  const resumed = log.indexOf("resuming (attempt 2)");
  expect(requeued).toBeGreaterThan(-1);
  expect(resumed).toBeGreaterThan(requeued);
  // The killed process's lease is not honoured any more (nor, after the end, anyone's).
  await expect(queue.heartbeat(jobId, killedOwner, 30_000)).rejects.toBeInstanceOf(LeaseLost);
  return { view, log };
}

/** The container a deployment started, as the coordinator recorded it. */
const containerOf = (deploymentId: string) => loadDeployment(coordinator.deps.db, deploymentId).container;

/**
 * Exactly one release serves, and it is the current deployment's (on the coordinator: the env's
 * row and the deployments' list agree); `stopped` are kept but not running.
 */
async function expectOneServing(current: DeploymentView, stopped: string[]): Promise<void> {
  const detail = (await api<EnvDetail>("GET", `/environments/${env.slug}`)).body;
  const containers = await webContainers();
  const running = [...containers].filter(([, r]) => r).map(([n]) => n);
  expect(running).toEqual([containerOf(current.id) ?? "(none)"]);
  const row = loadEnvById(coordinator.deps.db, env.id);
  expect({ container: row.containerName, deployment: row.currentDeploymentId }).toEqual({
    container: running[0]!,
    deployment: current.id,
  });
  expect(running[0]!.startsWith(`${agentPrefix}-`)).toBe(true);
  for (const name of stopped) expect(containers.get(name) ?? false).toBe(false);
  const port = await httpPortOf(running[0]!);
  expect(port).not.toBeNull();
  expect(upstreamPort()).toBe(port);
  expect(await health()).toBe(200);
  const list = (await api<DeploymentView[]>("GET", `/environments/${env.slug}/deployments`)).body;
  expect(list.filter((d) => d.current).map((d) => d.id)).toEqual([current.id]);
  expect(list.filter((d) => !TERMINAL_DEPLOYMENT.has(d.status))).toEqual([]);
  expect(detail.status).toBe("active");
}

const TERMINAL_DEPLOYMENT = new Set(["success", "failed", "rejected", "cancelled"]);

/** The deployment serving now and its container: what the next deploy starts beside. */
async function serving(): Promise<{ id: string; container: string }> {
  const list = (await api<DeploymentView[]>("GET", `/environments/${env.slug}/deployments`)).body;
  const current = list.find((d) => d.current);
  const container = current && containerOf(current.id);
  if (!current || !container) throw new Error(`no serving deployment: ${JSON.stringify(list)}`);
  return { id: current.id, container };
}

test("(a) kill -9 while the new release boots beside the serving one: resumed, the booting container reused, one release serves", async () => {
  const old = await serving();
  await repo.commit({ Dockerfile: slowDockerfile, "README.md": "addons, slow to boot\n" });
  const { deployment, job } = await deploy();
  const name = `${agentPrefix}-${env.slug}-r${deployment.release}`;
  await waitFor("the new release's container booting beside the old one", async () => {
    if (stepStatus(job.id, "start") !== "running") return false;
    return (await webContainers()).get(name) === true;
  });
  const owner = await killAgent(job.id);
  // Nothing was switched: the old release still serves, through the agent's nginx, with no agent.
  expect(stepStatus(job.id, "switch")).toBe("pending");
  expect((await webContainers()).get(old.container)).toBe(true);
  expect(upstreamPort()).toBe(await httpPortOf(old.container));
  expect(await health()).toBe(200);

  const { view, log } = await restartAndFinish(job.id, owner);
  expect(view.error).toBeNull();
  expect(view.status).toBe("succeeded");
  // The resumed start took over the container booting when the agent died: no second one.
  expect(log).toContain(`${name} already running`);
  // Only the interrupted step ran twice.
  expect([runsOf(log, "Building the image"), runsOf(log, "Starting the new release")]).toEqual([1, 2]);
  const after = await deploymentOf(deployment.id);
  expect(after).toMatchObject({ status: "success", current: true });
  expect(containerOf(deployment.id)).toBe(name);
  await expectOneServing(after, [old.container]);
}, 600_000);

test("(b) kill -9 inside the switch, nginx already on the new release, the old one not stopped yet: resumed, the old one stopped, one release serves", async () => {
  const old = await serving();
  await repo.commit({ "README.md": "addons, third release\n" });
  const { deployment, job } = await deploy();
  const name = `${agentPrefix}-${env.slug}-r${deployment.release}`;
  await waitFor("nginx switched to the new release, the old one draining", async () => {
    if (stepStatus(job.id, "switch") !== "running") return false;
    const port = await httpPortOf(name);
    return port !== null && upstreamPort() === port;
  });
  const owner = await killAgent(job.id);
  // Both containers run (the old one was draining); nginx serves the new one with no agent.
  const during = await webContainers();
  expect(during.get(old.container)).toBe(true);
  expect(during.get(name)).toBe(true);
  expect(await health()).toBe(200);

  const { view, log } = await restartAndFinish(job.id, owner);
  expect(view.error).toBeNull();
  expect(view.status).toBe("succeeded");
  const after = await deploymentOf(deployment.id);
  expect(after).toMatchObject({ status: "success", current: true });
  expect(containerOf(deployment.id)).toBe(name);
  expect((await deploymentOf(old.id)).current).toBe(false);
  // Only the interrupted step ran twice: the release was not started again.
  expect([runsOf(log, "Starting the new release"), runsOf(log, "Switching traffic")]).toEqual([1, 2]);
  await expectOneServing(after, [old.container]);
}, 600_000);
