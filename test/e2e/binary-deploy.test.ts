/**
 * kill -9 of the compiled daemon in the middle of a deploy (during the module update, then during
 * the new release's start), restarted on the same root: the deploy resumes and succeeds, exactly one
 * release runs, and a client polling the env through nginx every 50 ms never gets an error meanwhile.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { DeploymentView } from "../../src/deploy/schema";
import type { EnvDetail } from "../../src/env/schema";
import { LABEL_ENV } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import type { JobView } from "../../src/jobs/view";
import { makeRepo, type TestRepo } from "../git/repo";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { STANDIN_IMAGE } from "../support/env-host";
import { startNginx, type TestNginx } from "../support/nginx";
import { freePort } from "../support/ports";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { makeTempDir, removeTempDir } from "../support/tmp";

const BIN = join(import.meta.dir, "../../dist/odooops");
const namePrefix = testNamePrefix();
let pg: TestPostgres;
let nginx: TestNginx;
let repo: TestRepo;
let repoDir = "";
let root = "";
let port = 0;
let daemon: Subprocess | null = null;
let env: EnvDetail;

const manifest = (version: string) => `{'name': 'Shop extra', 'version': '${version}', 'depends': ['base']}\n`;

function startDaemon(): void {
  daemon = Bun.spawn([BIN, "serve", "--listen", `127.0.0.1:${port}`], {
    env: { ...process.env, ODOOOPS_ROOT: root, ODOOOPS_ADMIN_PASSWORD: "e2e-admin-pw" },
    stdout: "ignore",
    stderr: "ignore",
  });
}

async function waitUp(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await fetch(`http://127.0.0.1:${port}/api/v1/health`).then((r) => r.ok, () => false)) return;
    await Bun.sleep(50);
  }
  throw new Error("daemon did not come up");
}

async function cli(...argv: string[]) {
  const p = Bun.spawn([BIN, ...argv], { env: { ...process.env, ODOOOPS_ROOT: root, CI: "true", HOME: root }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

async function cliJson<T>(...argv: string[]): Promise<T> {
  const r = await cli(...argv, "--json");
  if (r.code !== 0) throw new Error(`odooops ${argv.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function runningWeb(): Promise<string[]> {
  return (await run({ argv: ["docker", "ps", "-q", "--filter", `label=${LABEL_ENV}=${env.id}`, "--filter", "label=odooops.role=web"] })).stdout.split("\n").filter(Boolean);
}

/** Polls the env through nginx every 50 ms until stopped; counts every answer that is not a healthy 200. */
function startPoller() {
  let stop = false;
  const failures: string[] = [];
  let polls = 0;
  const done = (async () => {
    while (!stop) {
      polls++;
      const r = await fetch(`http://127.0.0.1:${nginx.port}/web/health?db_server_status=1`, { headers: { host: env.domain } }).then(
        async (res) => (res.status === 200 ? null : `${res.status} ${await res.text()}`),
        (e: unknown) => String(e),
      );
      if (r !== null) failures.push(r);
      await Bun.sleep(50);
    }
  })();
  return {
    async finish() {
      stop = true;
      await done;
      return { polls, failures };
    },
  };
}

/** Starts a deploy without waiting, kills the daemon once `step` runs, restarts it and waits for the deploy. */
async function deployKilledAt(sha: string, step: string): Promise<{ job: JobView; killedDuring: string }> {
  const r = await cli("deploy", env.name, "--sha", sha);
  expect(r.code).toBe(0);
  const jobId = r.stdout.trim();
  let killedDuring = "";
  for (let i = 0; !killedDuring; i++) {
    const job = await cliJson<JobView>("jobs", "show", jobId);
    const running = job.steps.find((s) => s.status === "running");
    const target = job.steps.findIndex((s) => s.name === step);
    if (running && job.steps.indexOf(running) >= target) killedDuring = running.name;
    if (job.status === "succeeded" || job.status === "failed") throw new Error(`the deploy ended before ${step} could be interrupted: ${JSON.stringify(job.steps)}`);
    if (i > 2400) throw new Error(`${step} never started: ${JSON.stringify(job.steps)}`);
    if (!killedDuring) await Bun.sleep(25);
  }
  daemon!.kill(9);
  await daemon!.exited;
  startDaemon();
  await waitUp();
  await cli("jobs", "wait", jobId);
  return { job: await cliJson<JobView>("jobs", "show", jobId), killedDuring };
}

beforeAll(async () => {
  expect(existsSync(BIN)).toBe(true);
  pg = await startPostgres({ dockerAccess: false });
  nginx = await startNginx();
  root = nginx.dir;
  port = await freePort();
  repoDir = makeTempDir("odooops-e2e-deploy-repo-");
  repo = await makeRepo(repoDir);
  const from = 30000 + 2 * Math.floor(Math.random() * 10000);
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(
    join(root, "etc/config.yaml"),
    JSON.stringify({
      baseDomain: "e2e.localhost",
      postgres: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, hbaFile: pg.hbaFile },
      nginx: { binary: nginx.binary, configFile: nginx.configFile, httpPort: nginx.port },
      odoo: { image: STANDIN_IMAGE, healthTimeoutSec: 60 },
      ports: { from, to: from + 99 },
      docker: { namePrefix },
      deploy: { drainSec: 0, healthTimeoutSec: 60, runTests: false, rehearse: false, install: ["shop_extra"] },
    }),
  );
  startDaemon();
  await waitUp();
  const first = await repo.commit({ "shop_extra/__manifest__.py": manifest("1.0") });
  expect((await cli("project", "set", "default", "--repo", repo.url)).code).toBe(0);
  expect((await cli("env", "create", "shop", "--tier", "dev", "--wait")).code).toBe(0);
  env = await cliJson<EnvDetail>("env", "get", "shop");
  const r = await cli("deploy", "shop", "--sha", first, "--wait");
  expect(r.code).toBe(0);
}, 400_000);

afterAll(async () => {
  daemon?.kill(9);
  await removeByNamePrefix(namePrefix);
  await run({ argv: ["docker", "image", "rm", "--force", ...(await run({ argv: ["docker", "image", "ls", "-q", "--filter", `reference=${namePrefix}-*`] })).stdout.split("\n").filter(Boolean)] }, { nothrow: true });
  await nginx?.stop();
  await pg?.stop();
  if (repoDir) removeTempDir(repoDir);
}, 120_000);

describe("kill -9 of dist/odooops during a deploy", () => {
  for (const [step, previous, version] of [["migrate", "1.0", "1.1"], ["start", "1.1", "1.2"]] as const) {
    test(`killed while "${step}" runs: after restart the deploy ends, one release serves, no failed request`, async () => {
      const sha = await repo.commit({ "shop_extra/__manifest__.py": manifest(version) });
      const poller = startPoller();
      const { job, killedDuring } = await deployKilledAt(sha, step);
      const { polls, failures } = await poller.finish();
      expect(job.status).toBe("succeeded");
      expect(failures).toEqual([]);
      expect(polls).toBeGreaterThan(20);
      expect(await runningWeb()).toHaveLength(1);
      const list = await cliJson<DeploymentView[]>("deploy", "list", "shop");
      const deployment = list.find((d) => d.commit === sha);
      expect(deployment?.status).toBe("success");
      expect(deployment?.modulesUpdated).toEqual([{ name: "shop_extra", from: `17.0.${previous}`, to: `17.0.${version}` }]);
      expect((await cliJson<EnvDetail>("env", "get", "shop")).currentRelease).toBe(deployment!.release);
      const log = await cli("jobs", "logs", job.id);
      expect(log.stdout).toContain("requeued to resume");
      expect(killedDuring.length).toBeGreaterThan(0);
    }, 400_000);
  }
});
