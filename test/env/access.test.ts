/**
 * H1 "known passwords on public sites", attacked on a real host (PostgreSQL, dockerd, nginx and
 * the Odoo stand-in) with the shipped access defaults: a fresh env must not answer to admin/admin
 * or demo/demo, its random admin password is shown once to its creator and to admins only, and
 * a non-production site asks for the project's credentials while production stays public.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { environments } from "../../src/env/env.sql";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { startEnvHost } from "../support/env-host";
import { odooPasswordMatches } from "../support/odoo-password";
import { randomSuffix } from "../support/tmp";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let viewerToken = "";
const dev = `h1-dev-${randomSuffix(5)}`;
const prod = `h1-prod-${randomSuffix(5)}`;

beforeAll(async () => {
  // `access: {}`: the shipped defaults (the test harness otherwise makes every tier public).
  host = await startEnvHost({
    configOverrides: { access: {}, tiers: { production: { cpus: 1, memoryMb: 1024, workers: 0 } } },
  });
  await host.deps.auth.createUser("vic", "viewer-password-1", "viewer");
  viewerToken = (await host.deps.auth.login("vic", "viewer-password-1")).token;
}, 120_000);

afterAll(async () => {
  await host?.stop();
}, 120_000);

function api(path: string, init: RequestInit & { token?: string | null } = {}) {
  return host.api.request(`/api/v1${path}`, init);
}

function row(slug: string) {
  return host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;
}

async function users(slug: string): Promise<Record<string, string>> {
  const env = row(slug);
  const sql = pgConnect({
    host: host.pg.host,
    port: host.pg.port,
    user: host.pg.user,
    password: host.pg.password,
    database: env.dbName,
  });
  try {
    const rows = await sql<{ login: string; password: string | null }[]>`SELECT login, password FROM res_users`;
    return Object.fromEntries(rows.map((r) => [r.login, r.password ?? ""]));
  } finally {
    await sql.close();
  }
}

async function create(name: string, tier: string): Promise<JobView> {
  const res = await api("/environments", {
    method: "POST",
    body: JSON.stringify({ name, tier, modules: ["base", "web"] }),
  });
  expect(res.status).toBe(202);
  const job = await host.waitJob(((await res.json()) as { job: JobView }).job.id);
  expect(job.error).toBeNull();
  return job;
}

async function jobLog(id: string): Promise<string> {
  return ((await (await api(`/jobs/${id}/log`)).json()) as { text: string }).text;
}

const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});

function viaNginx(domain: string, path: string, headers: Record<string, string> = {}) {
  return fetch(`http://127.0.0.1:${host.nginx.port}${path}`, {
    headers: { host: domain, ...headers },
    redirect: "manual",
    keepalive: false,
  });
}

describe("H1: known passwords on public sites", () => {
  let createJob: JobView;
  let shown = "";

  test("a fresh env (demo data) does not answer to admin/admin or demo/demo; its creator is shown the admin password once, never in the log", async () => {
    createJob = await create(dev, "dev");
    const before = await users(dev);
    // The attack: the stand-in's (and Odoo's) seeded logins.
    expect(odooPasswordMatches("admin", before.admin ?? null)).toBe(false);
    expect(before.demo).toBeDefined();
    expect(odooPasswordMatches("demo", before.demo ?? null)).toBe(false);

    // The creator's first read of the finished job carries the password; later reads and others do not.
    const first = (await (await api(`/jobs/${createJob.id}`)).json()) as JobView;
    const secrets = first.result?.secrets as { adminPassword?: string } | undefined;
    shown = secrets?.adminPassword ?? "";
    expect(shown.length).toBeGreaterThanOrEqual(20);
    expect(first.result?.adminLogin).toBe("admin");
    expect(odooPasswordMatches(shown, before.admin ?? null)).toBe(true);
    const again = (await (await api(`/jobs/${createJob.id}`)).json()) as JobView;
    expect(again.result?.secrets).toBeUndefined();
    expect(JSON.stringify(again)).not.toContain(shown);
    expect(JSON.stringify(await (await api("/jobs?limit=50")).json())).not.toContain(shown);
    expect(JSON.stringify(host.deps.db.$client.query("select result from jobs").all())).not.toContain(shown);
    expect(await jobLog(createJob.id)).not.toContain(shown);
    // Sealed in state, not in clear.
    expect(row(dev).odooAdminPasswordEnc).toStartWith("v1:");
  }, 240_000);

  test("only admins read it back (a viewer gets 403 and a clear message); rotating replaces it", async () => {
    const denied = await api(`/environments/${dev}/admin-password`, { token: viewerToken });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { message: string } }).error.message).toBe(
      "only admin users may read an environment's Odoo admin password; vic is viewer",
    );
    expect((await api(`/environments/${dev}/admin-password`, { method: "POST", token: viewerToken })).status).toBe(403);
    expect((await api("/projects/default/access", { token: viewerToken })).status).toBe(403);

    const read = (await (await api(`/environments/${dev}/admin-password`)).json()) as {
      login: string;
      password: string;
    };
    expect(read).toEqual({ env: dev, login: "admin", password: shown } as never);

    const res = await api(`/environments/${dev}/admin-password`, { method: "POST" });
    expect(res.status).toBe(202);
    const job = await host.waitJob(((await res.json()) as JobView).id);
    expect(job.status).toBe("succeeded");
    const rotated =
      (
        ((await (await api(`/jobs/${job.id}`)).json()) as JobView).result?.secrets as
          | { adminPassword: string }
          | undefined
      )?.adminPassword ?? "";
    expect(rotated).not.toBe("");
    const hash = (await users(dev)).admin ?? null;
    expect(odooPasswordMatches(rotated, hash)).toBe(true);
    expect(odooPasswordMatches(shown, hash)).toBe(false);
    expect(await jobLog(job.id)).not.toContain(rotated);
  }, 240_000);

  test("the dev site asks for the project's credentials; ACME challenges and the health check stay open", async () => {
    const env = row(dev);
    expect((await viaNginx(env.domain, "/web/login")).status).toBe(401);
    expect((await viaNginx(env.domain, "/web/login", basic("default", "admin"))).status).toBe(401);
    const creds = (await (await api("/projects/default/access")).json()) as {
      user: string;
      password: string;
      protectedTiers: string[];
    };
    expect(creds.user).toBe("default");
    expect(creds.protectedTiers).toEqual(["dev", "dev_ephemeral", "staging"]);
    expect((await viaNginx(env.domain, "/web/login", basic(creds.user, creds.password))).status).toBe(200);
    expect((await viaNginx(env.domain, "/websocket")).status).toBe(401);

    const health = await viaNginx(env.domain, "/web/health?db_server_status=1");
    expect(health.status).toBe(200);
    const token = `h1-${randomSuffix(8)}`;
    mkdirSync(join(host.deps.paths.acmeWebroot, ".well-known", "acme-challenge"), { recursive: true });
    writeFileSync(join(host.deps.paths.acmeWebroot, ".well-known", "acme-challenge", token), "proof");
    const acme = await viaNginx(env.domain, `/.well-known/acme-challenge/${token}`);
    expect(acme.status).toBe(200);
    expect(await acme.text()).toBe("proof");

    // The user file: beside the vhost, 0640, readable by nginx's group only, SHA-512 crypt.
    const file = join(host.nginx.sitesDir, `${env.slug}.htpasswd`);
    const st = statSync(file);
    expect(st.mode & 0o777).toBe(0o640);
    expect(st.gid).toBe(65534);
    expect(await Bun.file(file).text()).toMatch(/^default:\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}\n$/);
  }, 240_000);

  test("production stays public", async () => {
    await create(prod, "production");
    const env = row(prod);
    expect((await viaNginx(env.domain, "/web/login")).status).toBe(200);
    expect(odooPasswordMatches("admin", (await users(prod)).admin ?? null)).toBe(false);
  }, 240_000);
});
