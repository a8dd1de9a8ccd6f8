/**
 * A crash at every step of env create and destroy, with the real host: the agent "dies" right
 * after a step did its work but before it was recorded (the hardest point for idempotency),
 * its lease expires, and a fresh agent resumes. The env always ends active with one container
 * (create) or with nothing left (destroy) — never half.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { createEnvJob } from "../../src/env/create-job";
import { environments } from "../../src/env/env.sql";
import { destroyEnvJob } from "../../src/env/lifecycle-jobs";
import { LABEL_ENV } from "../../src/env/resources";
import { run } from "../../src/exec/run";
import { crashThenResume } from "../support/agents";
import { startEnvHost } from "../support/env-host";
import { randomSuffix } from "../support/tmp";

let host: Awaited<ReturnType<typeof startEnvHost>>;
beforeAll(async () => {
  host = await startEnvHost({ agent: false });
}, 120_000);
afterAll(async () => {
  await host.stop();
}, 120_000);

describe("crash at every step, then resume", () => {
  // Steps that only run under some settings (HTTPS needs ACME) are crash-tested where they run.
  const createSteps = createEnvJob.steps.filter((s) => !s.when).map((s) => s.name);
  // The final backup runs for production only (crash-free path in test/env/destroy-production.test.ts); a dev env skips it.
  const destroySteps = destroyEnvJob.steps
    .map((s, i) => ({ name: s.name, i }))
    .filter((s) => s.name !== "final-backup");

  createSteps.forEach((stepName, idx) => {
    test(`create: crash after "${stepName}" did its work → resumed, active, one container; destroy crash after "${destroySteps[idx % destroySteps.length]!.name}" → nothing left`, async () => {
      const name = `crash-${idx}-${randomSuffix(6)}`;
      const res = await host.api.request("/api/v1/environments", {
        method: "POST",
        body: JSON.stringify({ name, tier: "dev" }),
      });
      expect(res.status).toBe(202);
      const { job, env } = (await res.json()) as { job: { id: string }; env: { id: string } };
      const done = await crashThenResume(host, job.id, idx);
      expect(done.error).toBeNull();
      expect(done.status).toBe("succeeded");
      expect(host.deps.db.select().from(environments).where(eq(environments.id, env.id)).get()!.status).toBe("active");
      const web = (await run({ argv: ["docker", "ps", "-aq", "--filter", `label=${LABEL_ENV}=${env.id}`] })).stdout
        .split("\n")
        .filter(Boolean);
      expect(web).toHaveLength(1);
      const domain = host.deps.db.select().from(environments).where(eq(environments.id, env.id)).get()!.domain;
      expect((await host.viaNginx(domain, "/web/health?db_server_status=1")).status).toBe(200);

      const del = await host.api.request(`/api/v1/environments/${name}`, { method: "DELETE" });
      const destroyJob = (await del.json()) as { id: string };
      const destroyed = await crashThenResume(host, destroyJob.id, destroySteps[idx % destroySteps.length]!.i);
      expect(destroyed.status).toBe("succeeded");
      expect(
        (await run({ argv: ["docker", "ps", "-aq", "--filter", `label=${LABEL_ENV}=${env.id}`] })).stdout.trim(),
      ).toBe("");
      expect(
        (
          await run({ argv: ["docker", "network", "ls", "-q", "--filter", `label=${LABEL_ENV}=${env.id}`] })
        ).stdout.trim(),
      ).toBe("");
      expect(host.deps.db.select().from(environments).where(eq(environments.id, env.id)).get()!.status).toBe(
        "destroyed",
      );
    }, 240_000);
  });
});
