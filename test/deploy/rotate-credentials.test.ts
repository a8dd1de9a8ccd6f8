/**
 * `db rotate-credentials` on a real env (PostgreSQL, docker, nginx, the Odoo stand-in): the
 * role's password changes with zero failed requests through nginx (the stand-in opens a database
 * connection per request, the worst case for a password change), the old one is refused by
 * PostgreSQL, odoo.conf carries the new one only, the env is otherwise as before, audited.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { envResources } from "../../src/env/resources";
import { runCliOn } from "../support/cli";
import { startEnvHost } from "../support/env-host";
import { probeThroughNginx } from "../support/probe";
import { rotationEnv } from "../support/rotation";
import { randomSuffix } from "../support/tmp";

let host: Awaited<ReturnType<typeof startEnvHost>>;
const slug = `rc-${randomSuffix(6)}`;
const { env, create, before: snapshot, loginAs, expectSettled } = rotationEnv(() => host, slug);

beforeAll(async () => {
  host = await startEnvHost();
}, 120_000);

afterAll(async () => {
  if (host) {
    await host.destroyEnv(slug);
    await host.stop();
  }
}, 180_000);

const cli = (argv: string[]) => runCliOn(host.api, argv);

describe("db rotate-credentials", () => {
  test("a new role password, the old one refused, odoo.conf rewritten, Odoo serving on it, audited", async () => {
    await create((id) => host.waitJob(id));
    const before = snapshot();
    expect(await loginAs(before.env.dbUser, before.password)).toBe(`ok as ${before.env.dbUser}`);
    // Through nginx all along, on the probe that opens a database connection per request.
    const probe = probeThroughNginx(host, before.env.domain, "/web/health?db_server_status=1");
    const r = await cli(["db", "rotate-credentials", slug, "--wait"]);
    const seen = await probe.end();
    expect(r.code).toBe(0);
    expect(seen.failures).toEqual([]);
    // Two boots and two switches happened while it polled, 50 ms apart.
    expect(seen.ok).toBeGreaterThan(20);

    const newPassword = host.deps.box.open(env().dbPasswordEnc);
    expect(newPassword).not.toBe(before.password);
    // As before apart from the password: the release's own container, no second login, the same pg_hba line.
    await expectSettled(before, newPassword);
    const conf = readFileSync(envResources(env(), host.deps).confFile, "utf8");
    expect(conf).toContain(`db_password = ${newPassword}`);
    expect(conf).not.toContain(before.password);
    const health = await host.viaNginx(env().domain, "/web/health?db_server_status=1");
    expect(health.status).toBe(200);
    expect(await health.text()).toContain('"pass"');
    expect(env().status).toBe("active");
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
