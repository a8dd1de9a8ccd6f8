/**
 * `db rotate-credentials` survives a crash: the agent dies right after the first switch (traffic
 * on the second login) and right after the switch back, a new agent resumes the job, and in both
 * cases nginx never failed a request, the env ends on its own container with only the new
 * password valid and no second login left.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { aliasOf, rotateCredentialsJob } from "../../src/deploy/rotate-credentials";
import { envResources } from "../../src/env/resources";
import { createLoginAlias, dropThrowawayRole, pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { crashThenResume, runJob } from "../support/agents";
import { startEnvHost } from "../support/env-host";
import { probeThroughNginx } from "../support/probe";
import { rotationEnv } from "../support/rotation";
import { randomSuffix } from "../support/tmp";

let host: Awaited<ReturnType<typeof startEnvHost>>;
const slug = `rk-${randomSuffix(6)}`;
const { env, create, before: snapshot, expectSettled } = rotationEnv(() => host, slug);

beforeAll(async () => {
  host = await startEnvHost({ agent: false });
}, 120_000);

afterAll(async () => {
  if (host) {
    const res = await host.api.request(`/api/v1/environments/${slug}`, { method: "DELETE" });
    if (res.status === 202) await runJob(host, ((await res.json()) as JobView).id).catch(() => undefined);
    await host.stop();
  }
}, 180_000);

describe("db rotate-credentials after a crash", () => {
  test("an env to rotate", async () => {
    await create((id) => runJob(host, id));
  }, 240_000);

  test("the second login acts as the env's role: what it creates, the role owns", async () => {
    const e = env();
    const alias = aliasOf(e.dbUser);
    const admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password });
    try {
      await createLoginAlias(admin, alias, e.dbUser, "alias-pw-1");
      const sql = pgConnect({
        host: host.pg.host,
        port: host.pg.port,
        user: alias,
        password: "alias-pw-1",
        database: e.dbName,
      });
      try {
        const [who] = await sql<{ s: string; c: string }[]>`SELECT session_user AS s, current_user AS c`;
        expect(who).toEqual({ s: alias, c: e.dbUser });
        await sql`CREATE TABLE alias_probe (id int)`;
        const [owner] = await sql<
          { o: string }[]
        >`SELECT tableowner AS o FROM pg_tables WHERE tablename = 'alias_probe'`;
        expect(owner?.o).toBe(e.dbUser);
        await sql`DROP TABLE alias_probe`;
      } finally {
        await sql.close();
      }
    } finally {
      await dropThrowawayRole(admin, alias);
      await admin.close();
    }
  }, 60_000);

  test("a release that never turns healthy beside itself: undone, old password still the only one, zero failed requests", async () => {
    const before = snapshot();
    const confBefore = readFileSync(envResources(before.env, host.deps).confFile, "utf8");
    const timeout = host.deps.config.deploy.healthTimeoutSec;
    // No time to turn healthy: the health gate fails the second container, as a broken boot would.
    host.deps.config.deploy.healthTimeoutSec = 0;
    const probe = probeThroughNginx(host, before.env.domain, "/web/health?db_server_status=1");
    try {
      const res = await host.api.request(`/api/v1/environments/${slug}/db/rotate-credentials`, { method: "POST" });
      expect(res.status).toBe(202);
      const job = await runJob(host, ((await res.json()) as JobView).id);
      expect(job.status).toBe("failed");
      expect(job.error ?? "").toContain("did not turn healthy");
    } finally {
      host.deps.config.deploy.healthTimeoutSec = timeout;
    }
    const seen = await probe.end();
    expect(seen.failures).toEqual([]);
    expect(env().dbPasswordEnc).toBe(before.env.dbPasswordEnc);
    await expectSettled(before, before.password);
    expect(readFileSync(envResources(env(), host.deps).confFile, "utf8")).toBe(confBefore);
  }, 180_000);

  for (const step of ["switch", "back"]) {
    test(`killed right after "${step}": resumed, zero failed requests, only the new password left`, async () => {
      const before = snapshot();
      const probe = probeThroughNginx(host, before.env.domain, "/web/health?db_server_status=1");
      const res = await host.api.request(`/api/v1/environments/${slug}/db/rotate-credentials`, { method: "POST" });
      expect(res.status).toBe(202);
      const idx = rotateCredentialsJob.steps.findIndex((s) => s.name === step);
      expect(idx).toBeGreaterThan(0);
      const job = await crashThenResume(host, ((await res.json()) as JobView).id, idx);
      const seen = await probe.end();
      expect(job.error).toBeNull();
      expect(job.status).toBe("succeeded");
      expect(seen.failures).toEqual([]);
      expect(seen.ok).toBeGreaterThan(20);

      const newPassword = host.deps.box.open(env().dbPasswordEnc);
      expect(newPassword).not.toBe(before.password);
      await expectSettled(before, newPassword);
    }, 300_000);
  }
});
