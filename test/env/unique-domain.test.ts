/**
 * Attack (issue #13, low): a member creates a dev env on the domain another env already serves
 * (say production's), to take over its vhost or its certificate. Refused before anything exists.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { environments } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { listDatabases, pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { startEnvHost } from "../support/env-host";

let host: Awaited<ReturnType<typeof startEnvHost>>;
beforeAll(async () => {
  host = await startEnvHost();
}, 120_000);
afterAll(async () => {
  await host?.stop();
}, 120_000);

async function create(body: Record<string, unknown>) {
  const res = await host.api.request("/api/v1/environments", { method: "POST", body: JSON.stringify(body) });
  return {
    status: res.status,
    body: (await res.json()) as { job?: JobView; env?: { slug: string }; error?: { code: string; message: string } },
  };
}

describe("every env has its own domain", () => {
  test("a second env on a domain already in use is refused, naming the other env, and nothing is created", async () => {
    const first = await create({ name: "shop", tier: "staging", domain: "shop.example.com" });
    expect(first.status).toBe(202);
    expect((await host.waitJob(first.body.job!.id)).status).toBe("succeeded");

    const taken = [
      { name: "thief", tier: "dev", domain: "shop.example.com" },
      // The derived name of an existing env, given explicitly by another.
      {
        name: "thief",
        tier: "dev",
        domain: (await host.deps.db.select().from(environments).all()).find((e) => e.slug === "shop")!.domain,
      },
    ];
    const second = await create({ name: "other", tier: "dev" });
    expect(second.status).toBe(202);
    expect((await host.waitJob(second.body.job!.id)).status).toBe("succeeded");
    const derived = host.deps.db.select().from(environments).where(eq(environments.slug, "other")).get()!.domain;
    taken.push({ name: "thief", tier: "staging", domain: derived });

    for (const body of [...taken, { ...taken[0], dryRun: true }]) {
      const refused = await create(body);
      expect(refused.status).toBe(409);
      expect(refused.body.error?.code).toBe("conflict");
      expect(refused.body.error?.message).toContain(
        `domain ${body.domain} is already used by environment ${body.domain === derived ? "other" : "shop"}`,
      );
    }

    expect(host.deps.db.select().from(environments).where(eq(environments.slug, "thief")).all()).toEqual([]);
    const containers = await run({
      argv: ["docker", "ps", "-aq", "--filter", `name=${host.config.docker.namePrefix}-thief`],
    });
    expect(containers.stdout.trim()).toBe("");
    const admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password });
    try {
      expect(await listDatabases(admin, "odoo_thief")).toEqual([]);
    } finally {
      await admin.close();
    }
    expect(existsSync(join(host.nginx.sitesDir, "thief.conf"))).toBe(false);
    expect(existsSync(envResources({ slug: "thief", domain: "shop.example.com" }, host.deps).dir)).toBe(false);
    // The first env still serves its domain.
    expect((await host.viaNginx("shop.example.com", "/web/health")).status).toBe(200);
  }, 240_000);
});
