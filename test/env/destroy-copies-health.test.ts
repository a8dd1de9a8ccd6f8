/**
 * Real Odoo 17 findings on a real host (PostgreSQL, dockerd, nginx, the stand-in):
 * - env destroy drops every database the env's role owns (copies kept by rollback --restore-db,
 *   --keep-old, an undone migrate), then the role; a destroy that fails there is finished by a rerun;
 * - the health gate proves the env's own database (`/web/login?db=`), never with
 *   `/web/health?db_server_status=1` (ignored, with a warning per poll, by Odoo 17.0-20240709).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { initModules } from "../../src/env/create-job";
import { environments } from "../../src/env/env.sql";
import { answerPasses, probePath } from "../../src/env/health";
import { servedTargets, waitEnvServed } from "../../src/env/served";
import { run } from "../../src/exec/run";
import { createDatabase, listDatabases, listRoles, pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { startEnvHost } from "../support/env-host";
import { freePort } from "../support/ports";

let host: Awaited<ReturnType<typeof startEnvHost>>;
beforeAll(async () => {
  host = await startEnvHost();
}, 120_000);
afterAll(async () => {
  await host?.stop();
}, 120_000);

const row = (slug: string) => host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!;

const admin = <T>(fn: (sql: ReturnType<typeof pgConnect>) => Promise<T>, database = "postgres"): Promise<T> =>
  host.pg.query(database, fn);

async function create(name: string): Promise<void> {
  const res = await host.api.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name, tier: "dev" }),
  });
  expect(res.status).toBe(202);
  const job = await host.waitJob(((await res.json()) as { job: JobView }).job.id);
  expect(job.error).toBeNull();
}

async function destroy(slug: string): Promise<JobView> {
  const res = await host.api.request(`/api/v1/environments/${slug}`, { method: "DELETE" });
  expect(res.status).toBe(202);
  return host.waitJob(((await res.json()) as JobView).id);
}

const io = { log() {}, signal: new AbortController().signal };

describe("health gate: the env's own database, no db_server_status", () => {
  test("probe paths and what passes", () => {
    expect(probePath({})).toBe("/web/health");
    expect(probePath({ db: "odoo_a b" })).toBe("/web/login?db=odoo_a%20b");
    expect(answerPasses({}, 200, '{"status": "pass"}')).toBe(true);
    expect(answerPasses({ db: "x" }, 200, '{"status": "pass"}')).toBe(false);
    expect(answerPasses({ db: "x" }, 200, '<form class="oe_login_form" role="form">')).toBe(true);
    expect(answerPasses({ db: "x" }, 500, '<form class="oe_login_form" role="form">')).toBe(false);
    expect(answerPasses({ db: "x" }, 303, "")).toBe(false);
    // The login page needs `web`: every env's init installs it (real Odoo auto-installs it with base).
    expect(initModules(["base"])).toEqual(["base", "web"]);
    expect(initModules(["web", "sale"])).toEqual(["web", "sale"]);
  });

  test("create polls /web/login?db=<env db> on the container and /web/health through nginx; never db_server_status", async () => {
    await create("probe");
    const env = row("probe");
    expect(
      servedTargets(host.deps, env).map((t) => [t.url.endsWith(`:${env.httpPort}`), t.host ?? null, t.db ?? null]),
    ).toEqual([
      [false, env.domain, null],
      [true, null, env.dbName],
    ]);
    const logs = await run({ argv: ["docker", "logs", env.containerName!] });
    const out = logs.stdout + logs.stderr;
    expect(out).toContain(`GET /web/login?db=${env.dbName} HTTP/1.1" 200`);
    expect(out).not.toContain("db_server_status");
  }, 240_000);

  test("the env's database gone while PostgreSQL answers: the gate fails and says which probe", async () => {
    const env = row("probe");
    const aside = `${env.dbName}_aside`;
    await admin((sql) => sql.unsafe(`ALTER DATABASE ${env.dbName} RENAME TO ${aside}`));
    try {
      const err = await waitEnvServed(host.deps, env, io, 3_000).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain(`/web/login?db=${env.dbName}`);
      expect((err as Error).message).toContain("HTTP 500");
    } finally {
      await admin((sql) => sql.unsafe(`ALTER DATABASE ${aside} RENAME TO ${env.dbName}`));
    }
    await waitEnvServed(host.deps, env, io, 30_000);
  }, 120_000);

  test("with workers the gevent port is asked too: not listening fails the gate naming it; listening passes", async () => {
    const env = row("probe");
    const prefork = { ...env, workers: 2 };
    expect(servedTargets(host.deps, prefork).map((t) => t.url)).toEqual([
      `http://127.0.0.1:${host.config.nginx.httpPort}`,
      `http://127.0.0.1:${env.httpPort}`,
      `http://127.0.0.1:${env.longpollPort}`,
    ]);
    // Threaded: /websocket is on the HTTP port, the gevent port is not asked.
    expect(servedTargets(host.deps, { ...env, workers: 0 }).map((t) => t.url)).not.toContain(
      `http://127.0.0.1:${env.longpollPort}`,
    );
    const silent = await freePort();
    const err = await waitEnvServed(host.deps, { ...prefork, longpollPort: silent }, io, 2_000).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`/web/health on 127.0.0.1:${silent}`);
    // The stand-in serves its gevent port from the start.
    await waitEnvServed(host.deps, prefork, io, 30_000);
  }, 120_000);
});

describe("env destroy drops every database of the env before its role", () => {
  test("kept copies (_old_, _new_) go with the env; other envs' databases stay", async () => {
    await create("keep");
    const env = row("keep");
    const other = row("probe");
    await admin(async (sql) => {
      await createDatabase(sql, `${env.dbName}_old_abc12345`, env.dbUser);
      await createDatabase(sql, `${env.dbName}_new_def67890`, env.dbUser);
    });
    const job = await destroy("keep");
    expect(job.error).toBeNull();
    expect(job.status).toBe("succeeded");
    expect(row("keep").status).toBe("destroyed");
    await admin(async (sql) => {
      expect(await listDatabases(sql, env.dbName)).toEqual([]);
      expect(await listRoles(sql, env.dbUser)).toEqual([]);
      expect(await listDatabases(sql, other.dbName)).toEqual([other.dbName]);
    });
  }, 240_000);

  test("a destroy that fails at DROP ROLE leaves a failed env that says to rerun; the rerun finishes it", async () => {
    const env = row("probe");
    // Something of the role's outside its databases: DROP ROLE refuses until it is gone.
    await admin((sql) =>
      sql.unsafe(`CREATE TABLE odooops_test_pin (x int); ALTER TABLE odooops_test_pin OWNER TO ${env.dbUser}`),
    );
    const failed = await destroy("probe");
    expect(failed.status).toBe("failed");
    expect(failed.error).toContain("depend");
    expect(row("probe").status).toBe("failed");
    expect(row("probe").statusReason).toContain("rerun env destroy");
    await admin((sql) => sql.unsafe("DROP TABLE odooops_test_pin"));
    const again = await destroy("probe");
    expect(again.error).toBeNull();
    expect(row("probe").status).toBe("destroyed");
    await admin(async (sql) => {
      expect(await listDatabases(sql, env.dbName)).toEqual([]);
      expect(await listRoles(sql, env.dbUser)).toEqual([]);
    });
  }, 240_000);
});
