import { describe, expect, test } from "bun:test";
import { ConfigSchema } from "../../src/config/schema";
import { renderOdooConf, resourcePlan } from "../../src/env/plan";

const tiers = ConfigSchema.parse({}).tiers;

describe("resource plan", () => {
  test("production workers are 2 × CPU + 1, capped by the tier quota", () => {
    expect(resourcePlan("production", { ...tiers.production, cpus: 4, workers: 9 }).workers).toBe(9);
    expect(resourcePlan("production", { ...tiers.production, cpus: 2, workers: 9 }).workers).toBe(5);
    expect(resourcePlan("production", { ...tiers.production, cpus: 8, workers: 9 }).workers).toBe(9);
    expect(resourcePlan("dev", tiers.dev).workers).toBe(0);
  });

  test("memory limits split the container memory between worker processes", () => {
    const p = resourcePlan("staging", { ...tiers.staging, memoryMb: 2048, workers: 2, maxCronThreads: 1 });
    expect(p.limitMemoryHard).toBe(Math.floor((2048 * 0.9) / 3) * 1024 * 1024);
    expect(p.limitMemorySoft).toBe(Math.floor(p.limitMemoryHard * 0.8));
  });
});

describe("odoo.conf", () => {
  const conf = renderOdooConf({
    slug: "shop",
    tier: "production",
    dbHost: "host.docker.internal",
    dbPort: 5432,
    dbName: "odoo_shop",
    dbUser: "odoo_shop",
    dbPassword: "p&w<d>",
    adminPasswd: "adm1n",
    demo: false,
    plan: resourcePlan("production", { ...tiers.production, cpus: 2 }),
  });

  test("locks the instance to its database and the proxy", () => {
    for (const line of ["dbfilter = ^odoo_shop$", "list_db = False", "proxy_mode = True", "admin_passwd = adm1n", "db_name = odoo_shop", "data_dir = /var/lib/odoo", "workers = 5", "without_demo = all"]) {
      expect(conf).toContain(`\n${line}\n`);
    }
  });

  test("values are written verbatim (ini, not HTML)", () => {
    expect(conf).toContain("db_password = p&w<d>\n");
  });
});
