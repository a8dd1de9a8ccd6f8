/**
 * kill -9 during a restore, at every step: the agent "dies" right after a step did its work but
 * before that was recorded (the hardest point for idempotency), its lease expires and a new agent
 * resumes the job. The env always ends on the backup's data, serving, with nothing left over —
 * and never loses its old database before the new one is in place and healthy.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { SQL } from "bun";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { restoreJob } from "../../src/db/restore-job";
import type { DbOperationResponse } from "../../src/db/schema";
import { envResources } from "../../src/env/resources";
import { pgConnect } from "../../src/host/postgres";
import type { JobView } from "../../src/jobs/view";
import { startEnvHost } from "../support/env-host";
import { randomSuffix } from "../support/tmp";
import { crashThenResume, runJob } from "../support/agents";
import { answer } from "./serving";

let host: Awaited<ReturnType<typeof startEnvHost>>;
let admin: SQL;
const slug = `rc-${randomSuffix(6)}`;
let backupId = "";
let atBackup: string[] = [];

beforeAll(async () => {
  host = await startEnvHost({ agent: false });
  admin = pgConnect({ host: host.pg.host, port: host.pg.port, user: host.pg.user, password: host.pg.password });
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await host?.stop();
}, 120_000);

const env = () => host.env(slug);

const partners = () =>
  host.pg.query(env().dbName, async (sql) =>
    (await sql<{ name: string }[]>`SELECT name FROM res_partner ORDER BY id`).map((r) => r.name),
  );

const addPartner = (name: string) =>
  host.pg.query(env().dbName, async (sql) => {
    await sql`INSERT INTO res_partner (name) VALUES (${name})`;
  });

describe("kill -9 during a restore", () => {
  test("an env with a backup", async () => {
    const res = await host.api.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: slug, tier: "dev", modules: ["base", "web"] }),
    });
    expect(res.status).toBe(202);
    expect((await runJob(host, ((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
    const b = await host.api.request(`/api/v1/environments/${slug}/backups`, { method: "POST" });
    const job = await runJob(host, ((await b.json()) as JobView).id);
    expect(job.status).toBe("succeeded");
    backupId = String(job.result?.backupId);
    atBackup = await partners();
  }, 240_000);

  // The steps a same-env restore runs (the others are skipped, so there is nothing to crash in).
  const crashAt = ["fetch", "stop", "swap", "modules", "start", "health", "finalize"];
  for (const step of crashAt) {
    test(`crash right after "${step}" did its work → resumed: on the backup's data, serving, nothing left over`, async () => {
      await addPartner(`changed before crash at ${step}`);
      const res = await host.api.request(`/api/v1/environments/${slug}/db/restore`, {
        method: "POST",
        body: JSON.stringify({ backup: backupId }),
      });
      expect(res.status).toBe(202);
      const jobId = ((await res.json()) as DbOperationResponse).job!.id;
      const idx = restoreJob.steps.findIndex((s) => s.name === step);
      const job = await crashThenResume(host, jobId, idx);
      expect(job.error).toBeNull();
      expect(job.status).toBe("succeeded");
      expect(await partners()).toEqual(atBackup);
      const e = env();
      const dbs = (
        await admin<{ d: string }[]>`SELECT datname AS d FROM pg_database WHERE starts_with(datname, ${e.dbName})`
      ).map((r) => r.d);
      expect(dbs).toEqual([e.dbName]);
      const fsDir = join(envResources(e, host.deps).dataDir, "filestore", e.dbName);
      expect(readdirSync(dirname(fsDir))).toEqual([e.dbName]);
      expect(e.status).toBe("active");
      expect(await answer(host, e.domain, "/web/login")).toMatchObject({ status: 200 });
    }, 240_000);
  }

  test("destroy the env", async () => {
    const res = await host.api.request(`/api/v1/environments/${slug}`, { method: "DELETE" });
    expect((await runJob(host, ((await res.json()) as JobView).id)).status).toBe("succeeded");
  }, 240_000);
});
