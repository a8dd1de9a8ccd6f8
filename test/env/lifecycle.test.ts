/**
 * Environments for real: PostgreSQL, dockerd, nginx and the Odoo stand-in, driven through the
 * API and the job engine exactly as the daemon does.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { environments } from "../../src/env/env.sql";
import { envResources, LABEL_ENV } from "../../src/env/resources";
import type { EnvDetail } from "../../src/env/schema";
import { run } from "../../src/exec/run";
import { listDatabases, listRoles, pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { startEnvHost } from "../support/env-host";

let host: Awaited<ReturnType<typeof startEnvHost>>;
beforeAll(async () => {
  host = await startEnvHost();
}, 120_000);
afterAll(async () => {
  await host?.stop();
}, 120_000);

async function post(path: string, body?: unknown) {
  return host.api.request(`/api/v1${path}`, {
    method: "POST",
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function createEnv(body: Record<string, unknown>): Promise<{ job: JobView; slug: string }> {
  const res = await post("/environments", body);
  const json = (await res.json()) as { job: JobView; env: { slug: string } };
  expect(res.status).toBe(202);
  return { job: await host.waitJob(json.job.id), slug: json.env.slug };
}

function row(slug: string) {
  return host.deps.db.select().from(environments).where(eq(environments.slug, slug)).all().at(-1)!;
}

async function leftovers(envId: string, dbName: string) {
  const label = `label=${LABEL_ENV}=${envId}`;
  const out = async (argv: string[]) => (await run({ argv })).stdout.split("\n").filter(Boolean);
  const admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password });
  try {
    return {
      containers: await out(["docker", "ps", "-aq", "--filter", label]),
      networks: await out(["docker", "network", "ls", "-q", "--filter", label]),
      volumes: await out(["docker", "volume", "ls", "-q", "--filter", label]),
      databases: await listDatabases(admin, dbName),
      roles: await listRoles(admin, dbName),
      hba: readFileSync(host.pg.hbaFile, "utf8").includes(` ${dbName},`),
    };
  } finally {
    await admin.close();
  }
}

const nothing = { containers: [], networks: [], volumes: [], databases: [], roles: [], hba: false };

describe("environments on a real host", () => {
  test("bad names and branches are refused with a clear error and nothing is created", async () => {
    for (const body of [
      { name: "x;rm -rf /", tier: "dev" },
      { name: "ok", tier: "dev", branch: "x;rm -rf /" },
      { name: "../etc", tier: "dev" },
      { name: "ok", tier: "gold" },
      { name: "a".repeat(300), tier: "dev" },
    ]) {
      const res = await post("/environments", body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid");
    }
    expect(host.deps.db.select().from(environments).all()).toEqual([]);
  });

  test("--dry-run returns the plan and creates nothing", async () => {
    const res = await post("/environments", { name: "feature/crm-reports", tier: "dev", dryRun: true });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { plan: { slug: string; dbName: string; domain: string }; steps: string[] };
    expect(body.plan).toMatchObject({
      slug: "feature-crm-reports",
      dbName: "odoo_feature_crm_reports",
      domain: "feature-crm-reports.dev.test.localhost",
    });
    expect(body.steps[1]).toBe("Provisioning database");
    expect(host.deps.db.select().from(environments).all()).toEqual([]);
  });

  let a: { slug: string; id: string };
  test("create: database, filestore, odoo.conf, init, container, vhost, healthy through nginx", async () => {
    const { job, slug } = await createEnv({ name: "feature/crm-reports", tier: "dev" });
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    // No ACME configured on this host: HTTPS is skipped, everything else ran.
    expect(job.steps.map((s) => [s.name, s.status])).toEqual([
      ...["network", "database", "filestore", "config", "initdb", "admin-password", "container", "vhost", "health"].map(
        (n) => [n, "done"],
      ),
      ["tls", "skipped"],
    ]);
    const env = row(slug);
    a = { slug, id: env.id };
    expect(env.status).toBe("active");
    const health = await host.viaNginx(env.domain, "/web/health?db_server_status=1");
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "pass", db_server_status: true });

    const r = envResources(env, host.deps);
    const conf = readFileSync(r.confFile, "utf8");
    expect(conf).toContain(`dbfilter = ^${env.dbName}$`);
    expect(conf).toContain("list_db = False");
    expect(conf).toContain("proxy_mode = True");
    expect(statSync(r.confFile).mode & 0o777).toBe(0o640);
    expect(statSync(r.confFile).gid).toBe(101);
    expect(statSync(r.dataDir).uid).toBe(101);

    const inspect = JSON.parse((await run({ argv: ["docker", "inspect", env.containerName!] })).stdout)[0];
    expect(inspect.HostConfig.RestartPolicy.Name).toBe("unless-stopped");
    expect(inspect.HostConfig.Memory).toBe(env.memoryMb * 1024 * 1024);
    expect(inspect.HostConfig.PortBindings["8069/tcp"][0].HostIp).toBe("127.0.0.1");
    expect(inspect.Config.Labels["odooops.env"]).toBe(env.id);
  }, 240_000);

  test("env get: URL, masked database URL, limits, disk use", async () => {
    const res = await host.api.request(`/api/v1/environments/${a.slug}`);
    expect(res.status).toBe(200);
    const d = (await res.json()) as EnvDetail;
    expect(d.databaseUrl).toBe(
      `postgresql://odoo_feature_crm_reports:***@host.docker.internal:${host.pg.port}/odoo_feature_crm_reports`,
    );
    expect(d.url).toBe(`http://feature-crm-reports.dev.test.localhost:${host.nginx.port}`);
    expect(d.disk.databaseBytes).toBeGreaterThan(1_000_000);
    expect(d.disk.filestoreBytes).toBeGreaterThan(0);
    expect(d.currentRelease).toBe(1);
    expect((await host.api.request("/api/v1/environments/nope")).status).toBe(404);
  });

  test("env A's credentials cannot open env B's database; the role has no admin powers", async () => {
    const { job, slug } = await createEnv({ name: "staging-b", tier: "staging" });
    expect(job.status).toBe("succeeded");
    const envA = row(a.slug);
    const envB = row(slug);
    const pwA = host.deps.box.open(envA.dbPasswordEnc);
    const asA = pgConnect({
      host: host.pg.host,
      port: host.pg.port,
      user: envA.dbUser,
      password: pwA,
      database: envB.dbName,
    });
    await expect(asA`select 1`).rejects.toThrow(/permission denied|not permitted|pg_hba/);
    await asA.close();
    const own = pgConnect({
      host: host.pg.host,
      port: host.pg.port,
      user: envA.dbUser,
      password: pwA,
      database: envA.dbName,
    });
    const [r] = await own<
      { rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean }[]
    >`select rolsuper, rolcreatedb, rolcreaterole from pg_roles where rolname = current_user`;
    expect(r).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false });
    await own.close();
    const destroyed = await host.waitJob(
      ((await (await host.api.request(`/api/v1/environments/${slug}`, { method: "DELETE" })).json()) as JobView).id,
    );
    expect(destroyed.status).toBe("succeeded");
  }, 240_000);

  test("stop, start, restart and logs", async () => {
    const env = row(a.slug);
    const stop = await host.waitJob(((await (await post(`/environments/${a.slug}/stop`)).json()) as JobView).id);
    expect(stop.status).toBe("succeeded");
    expect(row(a.slug).status).toBe("stopped");
    expect((await host.viaNginx(env.domain, "/web/health")).status).toBe(502);
    const start = await host.waitJob(((await (await post(`/environments/${a.slug}/start`)).json()) as JobView).id);
    expect(start.status).toBe("succeeded");
    expect(row(a.slug).status).toBe("active");
    const restart = await host.waitJob(((await (await post(`/environments/${a.slug}/restart`)).json()) as JobView).id);
    expect(restart.status).toBe("succeeded");
    expect((await host.viaNginx(env.domain, "/web/health?db_server_status=1")).status).toBe(200);
    const logs = await (await host.api.request(`/api/v1/environments/${a.slug}/logs?tail=50`)).text();
    expect(logs).toContain("GET /web/health?db_server_status=1");
  }, 240_000);

  test("a failing step undoes everything, marks the env failed; rerun after the fix works", async () => {
    const bad = await createEnv({ name: "broken", tier: "dev", odooImage: "odooops-test/no-such-image:1" });
    expect(bad.job.status).toBe("failed");
    expect(bad.job.steps.find((s) => s.status === "failed")?.name).toBe("initdb");
    const env = row("broken");
    expect(env.status).toBe("failed");
    expect(env.statusReason).toContain("no-such-image");
    expect(await leftovers(env.id, env.dbName)).toEqual(nothing);
    expect(existsSync(envResources(env, host.deps).dir)).toBe(false);

    const again = await createEnv({ name: "broken", tier: "dev" });
    expect(again.job.status).toBe("succeeded");
    expect(row("broken").id).toBe(env.id);
    expect(row("broken").status).toBe("active");
  }, 240_000);

  test("destroy leaves nothing labelled or named for the env; the row stays as destroyed", async () => {
    const env = row(a.slug);
    const res = await host.api.request(`/api/v1/environments/${a.slug}`, { method: "DELETE" });
    expect(res.status).toBe(202);
    const job = await host.waitJob(((await res.json()) as JobView).id);
    expect(job.status).toBe("succeeded");
    expect(await leftovers(env.id, env.dbName)).toEqual(nothing);
    const r = envResources(env, host.deps);
    expect(existsSync(r.dir)).toBe(false);
    expect(existsSync(join(host.nginx.sitesDir, `${env.slug}.conf`))).toBe(false);
    expect(row(a.slug).status).toBe("destroyed");
    // No vhost for the domain any more: nginx's catch-all closes the connection (444).
    const after = await host.viaNginx(env.domain, "/web/health").then(
      (r) => r.status,
      () => "closed",
    );
    expect(after).not.toBe(200);
    expect((await host.api.request(`/api/v1/environments/${a.slug}`)).status).toBe(404);
  }, 240_000);
});
