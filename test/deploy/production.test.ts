/**
 * Production deploys: a pre-deploy backup on every deploy; a release that fails after its
 * migration ran puts the database back from that backup before the deployment reports failed;
 * rollback --restore-db goes back to code and schema together; release retention keeps only
 * what rollback may need.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import type { DeployOutcome, DeploymentView } from "../../src/deploy/schema";
import { environments } from "../../src/env/env.sql";
import { run } from "../../src/exec/run";
import { listDatabases, pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { removeByLabel } from "../support/docker";
import { startEnvHost } from "../support/env-host";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { makeRepo, type TestRepo } from "../git/repo";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let repo: TestRepo;
let repoDir: string;
let envId = "";
let slug = "";

const manifest = (version: string, extra = "") => `{'name': 'Shop extra', 'version': '${version}', 'depends': ['base'],${extra}}\n`;

beforeAll(async () => {
  host = await startEnvHost({
    configOverrides: {
      // No rehearsal: this file proves the path behind it, a failure after the real migration.
      deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], keepReleases: 1, runTests: false, rehearse: false },
      tiers: { production: { cpus: 1, memoryMb: 1024, workers: 2 } },
    },
  });
  repoDir = makeTempDir("odooops-prod-repo-");
  repo = await makeRepo(repoDir);
  // No gates for production (the server default would wait for approval and rehearse): this
  // file proves what happens behind them; test/deploy/production-gates.test.ts covers the gates.
  await repo.commit({ "shop_extra/__manifest__.py": manifest("1.0"), ".odooops/policies.yaml": "health_gates: {}\n" });
  expect((await api("PUT", "/projects/default", { repoUrl: repo.url })).status).toBe(200);
  const res = await api("POST", "/environments", { name: "prod", tier: "production" });
  expect(res.status).toBe(202);
  const body = (await res.json()) as { job: JobView; env: { slug: string; id: string } };
  slug = body.env.slug;
  const job = await host.waitJob(body.job.id);
  expect(job.error).toBeNull();
  envId = envRow().id;
}, 240_000);

afterAll(async () => {
  if (envId) await removeByLabel(`odooops.env=${envId}`);
  await host?.stop();
  if (repoDir) removeTempDir(repoDir);
}, 120_000);

function api(method: string, path: string, body?: unknown): Promise<Response> {
  return host.api.request(`/api/v1${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

function envRow() {
  return host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
}

async function deploy(): Promise<DeploymentView> {
  const res = await api("POST", `/environments/${slug}/deployments`, {});
  expect(res.status).toBe(202);
  const out = (await res.json()) as DeployOutcome;
  if (out.dryRun) throw new Error("unexpected dry run");
  await host.waitJob(out.job.id, 300_000);
  return (await (await api("GET", `/deployments/${out.deployment.id}`)).json()) as DeploymentView;
}

async function moduleVersion(): Promise<string | undefined> {
  const sql = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password, database: envRow().dbName });
  try {
    const rows = await sql<{ v: string }[]>`SELECT latest_version AS v FROM ir_module_module WHERE name = 'shop_extra' AND state = 'installed'`;
    return rows[0]?.v;
  } finally {
    await sql.close();
  }
}

async function envImages(): Promise<string[]> {
  const ids = (await run({ argv: ["docker", "image", "ls", "--quiet", "--filter", `label=odooops.env=${envId}`] })).stdout.split("\n").filter(Boolean);
  const tags: string[] = [];
  for (const id of new Set(ids)) tags.push(...(await run({ argv: ["docker", "image", "inspect", "-f", "{{join .RepoTags \",\"}}", id] })).stdout.trim().split(",").filter(Boolean));
  return tags.sort();
}

let v10 = "";
let v11 = "";

describe("production deploys", () => {
  test("every deploy takes a pre-deploy backup first and records it", async () => {
    const d = await deploy();
    expect(d.error).toBeNull();
    expect(d.status).toBe("success");
    expect(d.backupId).not.toBeNull();
    const b = host.deps.db.select().from(backups).where(eq(backups.id, d.backupId!)).get()!;
    expect(b).toMatchObject({ kind: "pre_deploy", status: "completed", envId });
    expect(await moduleVersion()).toBe("17.0.1.0");
    v10 = d.id;

    await repo.commit({ "shop_extra/__manifest__.py": manifest("1.1") });
    const d2 = await deploy();
    expect(d2.status).toBe("success");
    expect(d2.modulesUpdated).toEqual([{ name: "shop_extra", from: "17.0.1.0", to: "17.0.1.1" }]);
    expect(await moduleVersion()).toBe("17.0.1.1");
    v11 = d2.id;
  }, 400_000);

  test("a release that crashes after its migration ran: the database is restored from the pre-deploy backup, the old release serves", async () => {
    const before = envRow();
    await repo.commit({ "shop_extra/__manifest__.py": manifest("1.2", " 'x_standin_crash_on_boot': True,") });
    const d = await deploy();
    expect(d.status).toBe("failed");
    expect(d.error).toContain("exited during start");
    expect(d.migrated).toBe(false);
    // The update to 1.2 ran, then the restore put 1.1 back.
    expect(await moduleVersion()).toBe("17.0.1.1");
    const admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password, database: "postgres" });
    try {
      expect((await listDatabases(admin, `${before.dbName}_old_`)).length).toBe(1);
    } finally {
      await admin.close();
    }
    expect(envRow()).toMatchObject({ release: before.release, containerName: before.containerName, currentDeploymentId: v11 });
    expect((await host.viaNginx(before.domain, "/web/health?db_server_status=1")).status).toBe(200);
    await repo.commit({ "shop_extra/__manifest__.py": manifest("1.1") });
  }, 400_000);

  test("rollback --restore-db: the code and the database of release 1.0 come back together", async () => {
    const refused = await api("POST", `/environments/${slug}/rollback`, {});
    expect(refused.status).toBe(409);
    const res = await api("POST", `/environments/${slug}/rollback`, { restoreDb: true });
    expect(res.status).toBe(202);
    const out = (await res.json()) as { deployment: DeploymentView; job: JobView };
    expect(out.deployment.rollbackOf).toBe(v10);
    expect(out.deployment.backupId).toBe(((await (await api("GET", `/deployments/${v11}`)).json()) as DeploymentView).backupId);
    const job = await host.waitJob(out.job.id, 300_000);
    expect(job.error).toBeNull();
    expect(job.steps.map((s) => [s.name, s.status])).toEqual([["restore", "done"], ["start", "done"], ["switch", "done"], ["prune", "done"]]);
    expect(await moduleVersion()).toBe("17.0.1.0");
    expect(envRow().currentDeploymentId).toBe(out.deployment.id);
    expect((await host.viaNginx(envRow().domain, "/web/health?db_server_status=1")).status).toBe(200);
  }, 400_000);
  test("release retention (keep 1), applied after each success: the serving image and the last one's; the failed release's image is gone", async () => {
    const serving = (await (await api("GET", `/deployments/${v10}`)).json()) as DeploymentView;
    const previous = (await (await api("GET", `/deployments/${v11}`)).json()) as DeploymentView;
    expect(await envImages()).toEqual([previous.image!, serving.image!].sort());
  }, 60_000);

});
