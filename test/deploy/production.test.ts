/**
 * Production deploys: a pre-deploy backup on every deploy; a release that fails after its
 * migration ran puts the database back from that backup before the deployment reports failed;
 * rollback --restore-db goes back to code and schema together; release retention keeps only
 * what rollback may need.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { backups } from "../../src/db/backup.sql";
import type { DeploymentView } from "../../src/deploy/schema";
import { run } from "../../src/exec/run";
import { listDatabases, pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { type DeployEnv, shopManifest, startDeployEnv } from "../support/deploy-env";

let t: DeployEnv;

beforeAll(async () => {
  t = await startDeployEnv({
    env: { name: "prod", tier: "production" },
    // No gates for production: this file proves what happens behind them (a failure after the
    // real migration); test/deploy/production-gates.test.ts covers the gates.
    files: { "shop_extra/__manifest__.py": shopManifest("1.0"), ".odooops/policies.yaml": "health_gates: {}\n" },
    configOverrides: {
      deploy: {
        drainSec: 0,
        healthTimeoutSec: 60,
        install: ["shop_extra"],
        keepReleases: 1,
        runTests: false,
        rehearse: false,
      },
      tiers: { production: { cpus: 1, memoryMb: 1024, workers: 2 } },
    },
  });
}, 240_000);

afterAll(async () => {
  await t?.stop();
}, 120_000);

async function envImages(): Promise<string[]> {
  const ids = (
    await run({ argv: ["docker", "image", "ls", "--quiet", "--filter", `label=odooops.env=${t.envId}`] })
  ).stdout
    .split("\n")
    .filter(Boolean);
  const tags: string[] = [];
  for (const id of new Set(ids))
    tags.push(
      ...(await run({ argv: ["docker", "image", "inspect", "-f", '{{join .RepoTags ","}}', id] })).stdout
        .trim()
        .split(",")
        .filter(Boolean),
    );
  return tags.sort();
}

let v10 = "";
let v11 = "";

describe("production deploys", () => {
  test("every deploy takes a pre-deploy backup first and records it", async () => {
    const { d } = await t.deploy();
    expect(d.error).toBeNull();
    expect(d.status).toBe("success");
    expect(d.backupId).not.toBeNull();
    const b = t.host.deps.db.select().from(backups).where(eq(backups.id, d.backupId!)).get()!;
    expect(b).toMatchObject({ kind: "pre_deploy", status: "completed", envId: t.envId });
    expect(await t.moduleVersion()).toBe("17.0.1.0");
    v10 = d.id;

    await t.repo.commit({ "shop_extra/__manifest__.py": shopManifest("1.1") });
    const { d: d2 } = await t.deploy();
    expect(d2.status).toBe("success");
    expect(d2.modulesUpdated).toEqual([{ name: "shop_extra", from: "17.0.1.0", to: "17.0.1.1" }]);
    expect(await t.moduleVersion()).toBe("17.0.1.1");
    v11 = d2.id;
  }, 400_000);

  test("a release that crashes after its migration ran: the database is restored from the pre-deploy backup, the old release serves", async () => {
    const before = t.envRow();
    await t.repo.commit({ "shop_extra/__manifest__.py": shopManifest("1.2", " 'x_standin_crash_on_boot': True,") });
    const { d } = await t.deploy();
    expect(d.status).toBe("failed");
    expect(d.error).toContain("exited during start");
    expect(d.migrated).toBe(false);
    // The update to 1.2 ran, then the restore put 1.1 back.
    expect(await t.moduleVersion()).toBe("17.0.1.1");
    const admin = pgConnect({
      host: t.host.pg.host,
      port: t.host.pg.port,
      user: t.host.pg.user,
      password: t.host.pg.password,
      database: "postgres",
    });
    try {
      expect((await listDatabases(admin, `${before.dbName}_old_`)).length).toBe(1);
    } finally {
      await admin.close();
    }
    expect(t.envRow()).toMatchObject({
      release: before.release,
      containerName: before.containerName,
      currentDeploymentId: v11,
    });
    expect((await t.host.viaNginx(before.domain, "/web/health?db_server_status=1")).status).toBe(200);
    await t.repo.commit({ "shop_extra/__manifest__.py": shopManifest("1.1") });
  }, 400_000);

  test("rollback --restore-db: the code and the database of release 1.0 come back together", async () => {
    const refused = await t.api("POST", `/environments/${t.slug}/rollback`, {});
    expect(refused.status).toBe(409);
    const res = await t.api("POST", `/environments/${t.slug}/rollback`, { restoreDb: true });
    expect(res.status).toBe(202);
    const out = (await res.json()) as { deployment: DeploymentView; job: JobView };
    expect(out.deployment.rollbackOf).toBe(v10);
    expect(out.deployment.backupId).toBe(
      ((await (await t.api("GET", `/deployments/${v11}`)).json()) as DeploymentView).backupId,
    );
    const job = await t.host.waitJob(out.job.id, 300_000);
    expect(job.error).toBeNull();
    expect(job.steps.map((s) => [s.name, s.status])).toEqual([
      ["restore", "done"],
      ["start", "done"],
      ["switch", "done"],
      ["prune", "done"],
    ]);
    expect(await t.moduleVersion()).toBe("17.0.1.0");
    expect(t.envRow().currentDeploymentId).toBe(out.deployment.id);
    expect((await t.host.viaNginx(t.envRow().domain, "/web/health?db_server_status=1")).status).toBe(200);
  }, 400_000);
  test("release retention (keep 1), applied after each success: the serving image and the last one's; the failed release's image is gone", async () => {
    const serving = (await (await t.api("GET", `/deployments/${v10}`)).json()) as DeploymentView;
    const previous = (await (await t.api("GET", `/deployments/${v11}`)).json()) as DeploymentView;
    expect(await envImages()).toEqual([previous.image!, serving.image!].sort());
  }, 60_000);
});
