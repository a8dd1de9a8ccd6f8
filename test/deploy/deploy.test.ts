/**
 * Deploy and rollback end to end on a real host (PostgreSQL, dockerd, nginx, the Odoo stand-in)
 * from a real git repository: build, addon tests on a throwaway database, module updates by
 * version and by content, the health-gated switch with nginx probed all along (zero failed
 * requests), failures that leave the old release serving, rollback with its migration guard.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import type { DeployOutcome, DeploymentView } from "../../src/deploy/schema";
import { environments } from "../../src/env/env.sql";
import { run } from "../../src/exec/run";
import { listDatabases, pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { removeByLabel } from "../support/docker";
import { startEnvHost } from "../support/env-host";
import { probeThroughNginx } from "../support/probe";
import { makeTempDir, removeTempDir } from "../support/tmp";
import { makeRepo, type TestRepo } from "../git/repo";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let repo: TestRepo;
let repoDir: string;
const envIds: string[] = [];

const manifest = (version: string, extra = "") =>
  `# -*- coding: utf-8 -*-\n{\n    'name': 'Shop extra',\n    'version': '${version}',\n    'depends': ['base'],${extra}\n}\n`;
const passingTest = "import sys\nsys.exit(0)\n";

beforeAll(async () => {
  host = await startEnvHost({
    configOverrides: {
      deploy: { drainSec: 1, healthTimeoutSec: 20, install: ["shop_extra"] },
      tiers: { production: { cpus: 1, memoryMb: 1024, workers: 2 } },
    },
  });
  repoDir = makeTempDir("odooops-deploy-repo-");
  repo = await makeRepo(repoDir);
  await repo.commit({
    "shop_extra/__manifest__.py": manifest("1.0"),
    "shop_extra/tests/test_ok.py": passingTest,
    "README.md": "addons\n",
  });
  const res = await api("PUT", "/projects/default", { repoUrl: repo.url });
  expect(res.status).toBe(200);
}, 180_000);

afterAll(async () => {
  for (const id of envIds) await removeByLabel(`odooops.env=${id}`);
  await host?.stop();
  if (repoDir) removeTempDir(repoDir);
}, 120_000);

function api(method: string, path: string, body?: unknown): Promise<Response> {
  return host.api.request(`/api/v1${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

async function createEnv(name: string, tier: string): Promise<string> {
  const res = await api("POST", "/environments", { name, tier });
  expect(res.status).toBe(202);
  const body = (await res.json()) as { job: JobView; env: { slug: string } };
  const job = await host.waitJob(body.job.id);
  expect(job.error).toBeNull();
  const env = host.deps.db.select().from(environments).where(eq(environments.slug, body.env.slug)).get()!;
  envIds.push(env.id);
  return env.slug;
}

function envRow(slug: string) {
  return host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
}

/** Probes the env through nginx every 50 ms until stopped; counts what did not answer 200. */
async function deploy(
  slug: string,
  body: Record<string, unknown> = {},
): Promise<{ deployment: DeploymentView; job: JobView }> {
  const res = await api("POST", `/environments/${slug}/deployments`, body);
  const out = (await res.json()) as DeployOutcome;
  expect(res.status).toBe(202);
  if (out.dryRun) throw new Error("unexpected dry run");
  const job = await host.waitJob(out.job.id, 300_000);
  const d = (await (await api("GET", `/deployments/${out.deployment.id}`)).json()) as DeploymentView;
  return { deployment: d, job };
}

async function installed(slug: string, module: string): Promise<{ state: string; latest_version: string } | undefined> {
  const env = envRow(slug);
  const sql = pgConnect({
    host: host.pg.host,
    port: host.pg.port,
    user: host.pg.user,
    password: host.pg.password,
    database: env.dbName,
  });
  try {
    const rows = await sql<
      { state: string; latest_version: string }[]
    >`SELECT state, latest_version FROM ir_module_module WHERE name = ${module}`;
    return rows[0];
  } finally {
    await sql.close();
  }
}

async function running(name: string): Promise<boolean> {
  const r = await run({ argv: ["docker", "inspect", "-f", "{{.State.Running}}", name] }, { nothrow: true });
  return r.stdout.trim() === "true";
}

let slug = "";
let firstDeploy = "";

describe("deploy from git", () => {
  test("an env to deploy to; without a repository the error says how to set one", async () => {
    slug = await createEnv("shop", "dev");
    expect(envRow(slug).release).toBe(1);
    const bad = await api("POST", `/environments/${slug}/deployments`, { branch: "x;rm -rf /" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("branch");
    const missing = await api("POST", `/environments/${slug}/deployments`, { branch: "no-such-branch" });
    expect(missing.status).toBe(202);
    const failed = await host.waitJob(((await missing.json()) as { job: JobView }).job.id);
    expect(failed.status).toBe("failed");
    expect(failed.error).toContain("no-such-branch");
    expect(envRow(slug).release).toBe(1);
  }, 300_000);

  test("--dry-run prints the plan (build, tests, install, switch) and changes nothing", async () => {
    const res = await api("POST", `/environments/${slug}/deployments`, { dryRun: true });
    expect(res.status).toBe(200);
    const out = (await res.json()) as DeployOutcome;
    if (!out.dryRun) throw new Error("expected a plan");
    const head = await repo.git("rev-parse", "HEAD");
    expect(out.plan).toMatchObject({
      env: slug,
      commit: head,
      branch: "main",
      image: { action: "build" },
      tests: { run: true, modules: ["shop_extra"] },
      backup: false,
      modules: { update: [], install: ["shop_extra"] },
      switch: { from: envRow(slug).containerName, toRelease: 3 },
    });
    expect(envRow(slug).release).toBe(1);
    expect(await installed(slug, "shop_extra")).toBeUndefined();
  }, 120_000);

  test("first deploy: build, tests, install, new release beside the old, switch with zero failed requests", async () => {
    const before = envRow(slug);
    const probe = probeThroughNginx(host, before.domain);
    const { deployment, job } = await deploy(slug);
    const seen = await probe.end();
    expect(job.error).toBeNull();
    expect(job.steps.map((s) => [s.name, s.status])).toEqual([
      ["source", "done"],
      ["build", "done"],
      ["plan", "done"],
      ["tests", "done"],
      ["approval", "skipped"],
      ["rehearse", "done"],
      ["backup", "skipped"],
      ["migrate", "done"],
      ["start", "done"],
      ["smoke", "skipped"],
      ["switch", "done"],
      ["prune", "done"],
    ]);
    expect(seen.failures).toEqual([]);
    expect(seen.ok).toBeGreaterThan(10);
    expect(deployment).toMatchObject({
      status: "success",
      current: true,
      modulesInstalled: ["shop_extra"],
      migrated: true,
      commit: await repo.git("rev-parse", "HEAD"),
    });
    expect(deployment.image).toMatch(new RegExp(`^${host.config.docker.namePrefix}-${slug}:[0-9a-f]{12}$`));
    expect(await installed(slug, "shop_extra")).toEqual({ state: "installed", latest_version: "17.0.1.0" });
    const after = envRow(slug);
    expect(after.release).toBe(deployment.release);
    expect(after.currentDeploymentId).toBe(deployment.id);
    expect(await running(after.containerName!)).toBe(true);
    expect(await running(before.containerName!)).toBe(false);
    const health = await host.viaNginx(after.domain, "/web/health?db_server_status=1");
    expect(health.status).toBe(200);
    firstDeploy = deployment.id;
  }, 300_000);

  test("a version bump updates the module (from → to); a change without a bump is still an update (content)", async () => {
    await repo.commit({ "shop_extra/__manifest__.py": manifest("1.1") });
    const bumped = await deploy(slug);
    expect(bumped.job.error).toBeNull();
    expect(bumped.deployment.modulesUpdated).toEqual([{ name: "shop_extra", from: "17.0.1.0", to: "17.0.1.1" }]);
    expect((await installed(slug, "shop_extra"))?.latest_version).toBe("17.0.1.1");

    await repo.commit({ "shop_extra/models.py": "# new field\n" });
    const content = await deploy(slug);
    expect(content.job.error).toBeNull();
    expect(content.deployment.modulesUpdated).toEqual([{ name: "shop_extra", from: "17.0.1.1", to: "17.0.1.1" }]);

    await repo.commit({ "README.md": "docs only\n" });
    const docs = await deploy(slug);
    expect(docs.job.error).toBeNull();
    expect(docs.deployment).toMatchObject({ modulesUpdated: [], modulesInstalled: [], migrated: false });
    // Nothing to migrate, nothing to rehearse: the boot is checked by start, beside the serving release.
    expect(docs.job.steps.find((s) => s.name === "rehearse")?.status).toBe("done");
    expect(host.deps.jobs.logs.read(docs.job.id, 0, 1 << 20).text).toContain(
      "no rehearsal: no module to update or install",
    );
  }, 600_000);

  test("failing addon tests: deployment failed with the test output; the old release keeps serving", async () => {
    const before = envRow(slug);
    await repo.commit({
      "shop_extra/tests/test_broken.py": "print('expected 3 partners, got 2')\nraise SystemExit(1)\n",
    });
    const probe = probeThroughNginx(host, before.domain);
    const { deployment, job } = await deploy(slug);
    const seen = await probe.end();
    expect(job.status).toBe("failed");
    expect(deployment.status).toBe("failed");
    expect(deployment.error).toContain("addon tests failed");
    expect(deployment.error).toContain("test_broken");
    expect(seen.failures).toEqual([]);
    expect(envRow(slug)).toMatchObject({
      release: before.release,
      containerName: before.containerName,
      currentDeploymentId: before.currentDeploymentId,
    });
    const admin = pgConnect({
      host: host.pg.host,
      port: host.pg.port,
      user: host.pg.user,
      password: host.pg.password,
      database: "postgres",
    });
    try {
      expect(await listDatabases(admin, "odooops_scratch_")).toEqual([]);
    } finally {
      await admin.close();
    }
    await repo.commit({ "shop_extra/tests/test_broken.py": null });
  }, 300_000);

  test("a failing migration, a release that crashes on boot, one that boots unhealthy: caught by the rehearsal on a copy; database unchanged, old release serving", async () => {
    const before = envRow(slug);
    const probe = probeThroughNginx(host, before.domain);
    const cases: [string, string][] = [
      ["'x_standin_migration_fail': True,", "rehearsal: the module update failed"],
      ["'x_standin_crash_on_boot': True,", "exited during start"],
      ["'x_standin_unhealthy': True,", "does not boot healthy"],
    ];
    for (const [flag, error] of cases) {
      await repo.commit({ "shop_extra/__manifest__.py": manifest("1.2", `\n    ${flag}`) });
      const { deployment, job } = await deploy(slug);
      expect(deployment.status).toBe("failed");
      expect(deployment.error).toContain(error);
      expect(job.steps.find((s) => s.name === "rehearse")?.status).toBe("failed");
      expect(job.steps.find((s) => s.name === "migrate")?.status).toBe("pending");
      expect(await installed(slug, "shop_extra")).toEqual({ state: "installed", latest_version: "17.0.1.1" });
    }
    const seen = await probe.end();
    expect(seen.failures).toEqual([]);
    expect(envRow(slug)).toMatchObject({ release: before.release, containerName: before.containerName });
    expect(await running(before.containerName!)).toBe(true);
    const admin = pgConnect({
      host: host.pg.host,
      port: host.pg.port,
      user: host.pg.user,
      password: host.pg.password,
      database: "postgres",
    });
    try {
      expect(await listDatabases(admin, "odooops_scratch_")).toEqual([]);
    } finally {
      await admin.close();
    }
    await repo.commit({ "shop_extra/__manifest__.py": manifest("1.1") });
  }, 600_000);

  test("rollback: candidates listed; crossing a migration needs --restore-db or --keep-db; the kept image serves again", async () => {
    const candidates = (await (await api("GET", `/environments/${slug}/rollback`)).json()) as DeploymentView[];
    expect(candidates.map((c) => c.status)).toEqual(candidates.map(() => "success"));
    expect(candidates.some((c) => c.id === firstDeploy)).toBe(true);

    const refused = await api("POST", `/environments/${slug}/rollback`, { to: firstDeploy });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/--restore-db.*--keep-db/);

    const before = envRow(slug);
    const probe = probeThroughNginx(host, before.domain);
    const res = await api("POST", `/environments/${slug}/rollback`, { to: firstDeploy, keepDb: true });
    expect(res.status).toBe(202);
    const out = (await res.json()) as { deployment: DeploymentView; job: JobView };
    const job = await host.waitJob(out.job.id);
    const seen = await probe.end();
    expect(job.error).toBeNull();
    expect(job.steps.map((s) => s.name)).toEqual(["restore", "start", "switch", "prune"]);
    expect(seen.failures).toEqual([]);
    const first = (await (await api("GET", `/deployments/${firstDeploy}`)).json()) as DeploymentView;
    const rb = (await (await api("GET", `/deployments/${out.deployment.id}`)).json()) as DeploymentView;
    expect(rb).toMatchObject({
      kind: "rollback",
      status: "success",
      current: true,
      image: first.image,
      rollbackOf: firstDeploy,
    });
    expect(envRow(slug).release).toBe(rb.release);

    const none = await api("POST", `/environments/${slug}/rollback`, { to: "0000000" });
    expect(none.status).toBe(404);
  }, 300_000);
});
