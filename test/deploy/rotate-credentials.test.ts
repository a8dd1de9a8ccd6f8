/**
 * `db rotate-credentials` on a real env (PostgreSQL, docker, nginx, the Odoo stand-in): the
 * role's password changes with zero failed requests through nginx (the stand-in opens a database
 * connection per request, the worst case for a password change), the old one is refused by
 * PostgreSQL, odoo.conf carries the new one only, the env is otherwise as before, audited.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { and, eq, ne } from "drizzle-orm";
import { environments, type Environment } from "../../src/env/env.sql";
import { envResources } from "../../src/env/resources";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { aliasOf } from "../../src/deploy/rotate-credentials";
import { run } from "../../src/exec/run";
import { runCliWith } from "../support/cli";
import { probeThroughNginx } from "../support/probe";
import { startEnvHost } from "../support/env-host";
import { randomSuffix } from "../support/tmp";

let host: Awaited<ReturnType<typeof startEnvHost>>;
const slug = `rc-${randomSuffix(6)}`;

beforeAll(async () => {
  host = await startEnvHost();
}, 120_000);

afterAll(async () => {
  if (host) {
    await host.destroyEnv(slug);
    await host.stop();
  }
}, 180_000);

const env = (): Environment =>
  host.deps.db
    .select()
    .from(environments)
    .where(and(eq(environments.slug, slug), ne(environments.status, "destroyed")))
    .get()!;
const cli = (argv: string[]) =>
  runCliWith(argv, { fetch: host.api.fetch, env: { ODOOOPS_URL: "http://api.test", ODOOOPS_TOKEN: host.api.token } });

async function loginAs(password: string, user = env().dbUser): Promise<"ok" | string> {
  const e = env();
  const sql = pgConnect({ host: host.pg.host, port: host.pg.port, user, password, database: e.dbName });
  try {
    await sql`SELECT 1`;
    return "ok";
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await sql.close();
  }
}

describe("db rotate-credentials", () => {
  test("a new role password, the old one refused, odoo.conf rewritten, Odoo serving on it, audited", async () => {
    const res = await host.api.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: slug, tier: "dev", modules: ["base", "web"] }),
    });
    expect(res.status).toBe(202);
    expect((await host.waitJob(((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
    const oldPassword = host.deps.box.open(env().dbPasswordEnc);
    expect(await loginAs(oldPassword)).toBe("ok");

    const before = env();
    const hbaBefore = readFileSync(host.config.postgres.hbaFile, "utf8");
    // Through nginx all along, on the probe that opens a database connection per request.
    const probe = probeThroughNginx(host, before.domain, "/web/health?db_server_status=1");
    const r = await cli(["db", "rotate-credentials", slug, "--wait"]);
    const seen = await probe.end();
    expect(r.code).toBe(0);
    expect(seen.failures).toEqual([]);
    // Two boots and two switches happened while it polled, 50 ms apart.
    expect(seen.ok).toBeGreaterThan(20);

    const newPassword = host.deps.box.open(env().dbPasswordEnc);
    expect(newPassword).not.toBe(oldPassword);
    expect(await loginAs(newPassword)).toBe("ok");
    expect(await loginAs(oldPassword)).toMatch(/password authentication failed/);
    const conf = readFileSync(envResources(env(), host.deps).confFile, "utf8");
    expect(conf).toContain(`db_password = ${newPassword}`);
    expect(conf).not.toContain(oldPassword);
    const health = await host.viaNginx(env().domain, "/web/health?db_server_status=1");
    expect(health.status).toBe(200);
    expect(await health.text()).toContain('"pass"');
    expect(env().status).toBe("active");
    // As before apart from the password: the release's own container, no second login, the same pg_hba line.
    expect(env().containerName).toBe(before.containerName);
    expect(env().release).toBe(before.release);
    expect(await loginAs(newPassword, aliasOf(env().dbUser))).toMatch(/password authentication failed|does not exist/);
    expect(readFileSync(host.config.postgres.hbaFile, "utf8")).toBe(hbaBefore);
    const aside = await run({ argv: ["docker", "inspect", `${before.containerName}-rot`] }, { nothrow: true });
    expect(aside.exitCode).not.toBe(0);
    const audit = host.deps.audit.list({ action: "db.rotate-credentials" })[0];
    expect(audit).toMatchObject({ target: slug, details: expect.objectContaining({ role: env().dbUser }) });
    expect(JSON.stringify(host.deps.audit.list({ limit: 1000 }))).not.toContain(newPassword);
  }, 300_000);

  test("bad input changes nothing: no env, both or neither of ENV and --all, an unknown env", async () => {
    const before = env().dbPasswordEnc;
    expect((await cli(["db", "rotate-credentials"])).stderr).toContain("give an environment or --all");
    expect((await cli(["db", "rotate-credentials", slug, "--all"])).code).toBe(2);
    expect((await cli(["db", "rotate-credentials", "no-such-env"])).code).toBe(4);
    expect(env().dbPasswordEnc).toBe(before);
  });
});
