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

  // Odoo applies these to virtual memory (RLIMIT_AS, VMS): never below its defaults on any tier.
  const MiB = 1024 * 1024;
  test.each([
    ["dev", tiers.dev, 2048, 2560],
    ["dev_ephemeral", tiers.dev_ephemeral, 2048, 2560],
    ["staging", tiers.staging, 2048, 2560],
    ["production", tiers.production, 2048, 2560],
    ["production", { ...tiers.production, memoryMb: 1024 }, 2048, 2560],
  ] as const)(
    "memory limits on %s are at least Odoo's defaults (soft %d MiB, hard %d MiB)",
    (name, tier, soft, hard) => {
      const p = resourcePlan(name, tier);
      expect([p.limitMemorySoft, p.limitMemoryHard]).toEqual([soft * MiB, hard * MiB]);
    },
  );

  test("a large container raises the limits above the defaults: its memory per process, hard = soft × 1.25", () => {
    // 16 GiB, 5 workers + 1 cron thread: floor(16384 × 0.9 / 6) = 2457 MiB per process.
    const p = resourcePlan("production", {
      ...tiers.production,
      memoryMb: 16384,
      cpus: 2,
      workers: 9,
      maxCronThreads: 1,
    });
    expect(p.limitMemorySoft).toBe(2457 * MiB);
    expect(p.limitMemoryHard).toBe(Math.floor(2457 * MiB * 1.25));
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
    for (const line of [
      "limit_memory_soft = 2147483648",
      "limit_memory_hard = 2684354560",
      "dbfilter = ^odoo_shop$",
      "list_db = False",
      "proxy_mode = True",
      "admin_passwd = adm1n",
      "db_name = odoo_shop",
      "data_dir = /var/lib/odoo",
      "workers = 5",
      "without_demo = all",
    ]) {
      expect(conf).toContain(`\n${line}\n`);
    }
  });

  test("values are written verbatim (ini, not HTML)", () => {
    expect(conf).toContain("db_password = p&w<d>\n");
  });
});
