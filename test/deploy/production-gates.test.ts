/**
 * Production under policies on a real host: without a policies file the server default makes
 * the deploy wait for approval; a declared `migrations` gate rehearses on a neutralized copy even
 * with deploy.rehearse off, and the live database is left as it was.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { pgConnect } from "../../src/host/postgres";
import { type DeployEnv, shopManifest, startDeployEnv } from "../support/deploy-env";

let t: DeployEnv;

beforeAll(async () => {
  t = await startDeployEnv({
    env: { name: "prod", tier: "production" },
    files: { "shop_extra/__manifest__.py": shopManifest("1.0") },
    configOverrides: {
      deploy: { drainSec: 0, healthTimeoutSec: 60, install: ["shop_extra"], runTests: false, rehearse: false },
      tiers: { production: { cpus: 1, memoryMb: 1024, workers: 2 } },
    },
  });
}, 240_000);

afterAll(async () => {
  await t?.stop();
}, 120_000);

async function liveFacts(): Promise<{ activeCrons: number; neutralized: string | null }> {
  const sql = pgConnect({
    host: t.host.pg.host,
    port: t.host.pg.port,
    user: t.host.pg.user,
    password: t.host.pg.password,
    database: t.envRow().dbName,
  });
  try {
    const [c] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ir_cron WHERE active`;
    const [p] = await sql<
      { value: string }[]
    >`SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'`;
    return { activeCrons: c?.n ?? 0, neutralized: p?.value ?? null };
  } finally {
    await sql.close();
  }
}

describe("production gates", () => {
  test("no policies file: the server default tests and rehearses production, and waits for no approval", async () => {
    const out = await t.queueDeploy();
    const job = await t.host.waitJob(out.job.id, 300_000);
    expect(job.error).toBeNull();
    const d = await t.deployment(out.deployment.id);
    expect(d).toMatchObject({ status: "success", current: true, approval: null });
    expect(d.gates).toMatchObject({ source: "default", approval: null });
    expect(job.steps.find((s) => s.name === "approval")?.status).toBe("skipped");
    expect(job.steps.find((s) => s.name === "rehearse")?.status).toBe("done");
    expect(d.backupId).not.toBeNull();
  }, 300_000);

  test("a declared migrations gate rehearses on a neutralized copy (deploy.rehearse off); the live database is untouched by it", async () => {
    const before = await liveFacts();
    await t.repo.commit({
      ".odooops/policies.yaml": "health_gates:\n  production:\n    migrations: { required: true }\n",
      "shop_extra/__manifest__.py": shopManifest("1.1"),
    });
    const out = await t.queueDeploy();
    const job = await t.host.waitJob(out.job.id, 300_000);
    expect(job.error).toBeNull();
    expect(job.steps.find((s) => s.name === "rehearse")?.status).toBe("done");
    expect(job.steps.find((s) => s.name === "approval")?.status).toBe("skipped");
    const log = t.host.deps.jobs.logs.read(out.job.id, 0, 16 * 1024 * 1024).text;
    expect(log).toMatch(/neutralized the copy: \d+ crons and \d+ mail servers off/);
    expect(log).toContain("rehearsal passed");
    expect(await liveFacts()).toEqual(before);
    expect(before.neutralized).not.toBe("True");
    expect(await t.deployment(out.deployment.id)).toMatchObject({
      status: "success",
      modulesUpdated: [{ name: "shop_extra", from: "17.0.1.0", to: "17.0.1.1" }],
    });
  }, 300_000);
});
