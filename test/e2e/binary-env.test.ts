/**
 * The compiled binary end to end on a temp root: `dist/odooops serve` as the daemon, the same
 * binary as CLI through the local credential (no login), real PostgreSQL/nginx/docker and the
 * stand-in. Includes kill -9 of the daemon in the middle of `env create`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync, mkdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { EnvDetail } from "../../src/env/schema";
import { LABEL_ENV } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import type { JobView } from "../../src/jobs/view";
import { removeByNamePrefix, testNamePrefix } from "../support/docker";
import { STANDIN_IMAGE } from "../support/env-host";
import { startNginx, type TestNginx } from "../support/nginx";
import { freePort } from "../support/ports";
import { startPostgres, type TestPostgres } from "../support/postgres";

const BIN = join(import.meta.dir, "../../dist/odooops");
let pg: TestPostgres;
let nginx: TestNginx;
let root: string;
let port: number;
let daemon: Subprocess | null = null;
const namePrefix = testNamePrefix();
const envIds: string[] = [];

function startDaemon(): Subprocess {
  const p = Bun.spawn([BIN, "serve", "--listen", `127.0.0.1:${port}`], {
    env: { ...process.env, ODOOOPS_ROOT: root, ODOOOPS_ADMIN_PASSWORD: "e2e-admin-pw" },
    stdout: "ignore",
    stderr: "ignore",
  });
  daemon = p;
  return p;
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

beforeAll(async () => {
  expect(existsSync(BIN)).toBe(true);
  pg = await startPostgres({ dockerAccess: false });
  nginx = await startNginx();
  root = nginx.dir;
  port = await freePort();
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
    }),
  );
  startDaemon();
  await waitUp();
}, 120_000);

afterAll(async () => {
  daemon?.kill(9);
  await removeByNamePrefix(namePrefix);
  await nginx?.stop();
  await pg?.stop();
}, 120_000);

async function envGet(name: string): Promise<EnvDetail> {
  const r = await cli("env", "get", name, "--json");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as EnvDetail;
}

async function webContainers(envId: string): Promise<string[]> {
  return (await run({ argv: ["docker", "ps", "-aq", "--filter", `label=${LABEL_ENV}=${envId}`, "--filter", "label=odooops.role=web"] })).stdout.split("\n").filter(Boolean);
}

describe("dist/odooops end to end", () => {
  test("env create --wait renders each step with its duration; the env answers through nginx", async () => {
    const r = await cli("env", "create", "shop", "--tier", "dev", "--wait");
    expect(r.stderr).toContain("✓ Provisioning database... (");
    expect(r.stderr).toContain("✓ Waiting for Odoo to answer... (");
    expect(r.code).toBe(0);
    const env = await envGet("shop");
    envIds.push(env.id);
    expect(env.status).toBe("active");
    const health = await fetch(`http://127.0.0.1:${nginx.port}/web/health?db_server_status=1`, { headers: { host: env.domain } });
    expect(health.status).toBe(200);
    const list = JSON.parse((await cli("env", "list", "--json")).stdout) as { name: string }[];
    expect(list.map((e) => e.name)).toEqual(["shop"]);
  }, 240_000);

  test("kill -9 of the daemon during env create: after restart the job finishes, one container, env active", async () => {
    const r = await cli("env", "create", "crashy", "--tier", "dev");
    expect(r.code).toBe(0);
    const jobId = r.stdout.trim();
    for (let i = 0; ; i++) {
      const job = JSON.parse((await cli("jobs", "show", jobId, "--json")).stdout) as JobView;
      if (job.steps.find((s) => s.name === "initdb")?.status === "running") break;
      if (i > 600) throw new Error(`initdb never started: ${JSON.stringify(job)}`);
      await Bun.sleep(50);
    }
    daemon!.kill(9);
    await daemon!.exited;
    startDaemon();
    await waitUp();
    const waited = await cli("jobs", "wait", jobId);
    expect(waited.code).toBe(0);
    const job = JSON.parse((await cli("jobs", "show", jobId, "--json")).stdout) as JobView;
    expect(job.status).toBe("succeeded");
    const env = await envGet("crashy");
    envIds.push(env.id);
    expect(env.status).toBe("active");
    expect(await webContainers(env.id)).toHaveLength(1);
    const log = await cli("jobs", "logs", jobId);
    expect(log.stdout).toContain("requeued to resume");
  }, 300_000);

  test("destroy --yes --wait for both; nothing labelled for them is left", async () => {
    for (const name of ["shop", "crashy"]) {
      const r = await cli("env", "destroy", name, "--yes", "--wait");
      expect(r.code).toBe(0);
    }
    for (const id of envIds) {
      expect((await run({ argv: ["docker", "ps", "-aq", "--filter", `label=${LABEL_ENV}=${id}`] })).stdout.trim()).toBe("");
      expect((await run({ argv: ["docker", "network", "ls", "-q", "--filter", `label=${LABEL_ENV}=${id}`] })).stdout.trim()).toBe("");
    }
    expect((await cli("env", "list", "--json")).stdout.trim()).toBe("[]");
  }, 240_000);
});
