/**
 * The coordinator's checks of a restore across hosts, through the API (`app.request`, real
 * SQLite state): a backup with only a local copy on its host is planned as relayed through the
 * coordinator, one with no copy left is refused naming both hosts, one that would be anonymized is refused (anonymizing needs the source's database, on the other host),
 * and an allowed one is planned as read from S3 and queued on the target's host. Refusals
 * change nothing. (test/fleet/cross-host-restore.test.ts runs one on real hosts.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { ConfigSchema } from "../../src/config/schema";
import { backups } from "../../src/db/backup.sql";
import { environments } from "../../src/env/env.sql";
import { jobs } from "../../src/jobs/jobs.sql";
import { makeTestApi } from "../support/api";
import { onlineAgent } from "../support/fleet-api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
const hostIds: Record<string, string> = {};
const backupIds: Record<string, string> = {};

const counts = () => ({
  jobs: t.deps.db.select({ n: sql<number>`count(*)` }).from(jobs).get()!.n,
  backups: t.deps.db.select({ n: sql<number>`count(*)` }).from(backups).get()!.n,
});

async function restore(target: string, body: Record<string, unknown>) {
  const r = await t.request(`/api/v1/environments/${target}/db/restore`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  return {
    status: r.status,
    body: (await r.json()) as {
      plan: { backup: { from: string } };
      job: { id: string } | null;
      error: { message: string };
    },
  };
}

beforeAll(async () => {
  t = await makeTestApi({
    config: ConfigSchema.parse({
      role: "coordinator",
      fleet: { heartbeatSec: 10 },
      backups: { s3: { bucket: "fleet-backups", prefix: "odooops/" } },
    }),
  });
  for (const name of ["eu-1", "eu-2"]) {
    hostIds[name] = onlineAgent(t.deps.db, name);
  }
  for (const [name, tier, host] of [
    ["prod", "production", "eu-1"],
    ["stage", "staging", "eu-2"],
    ["dev-eu1", "dev", "eu-1"],
  ] as const) {
    const r = await t.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name, tier, host }),
    });
    expect(r.status).toBe(202);
    t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, name)).run();
  }
  const envId = (slug: string) =>
    t.deps.db.select({ id: environments.id }).from(environments).where(eq(environments.slug, slug)).get()!.id;
  // Completed backups as the agents report them: one with an S3 copy, one only local, one with neither left.
  for (const [key, slug, s3Key, local] of [
    ["prodS3", "prod", "odooops/prod/b/", false],
    ["devS3", "dev-eu1", "odooops/dev-eu1/b/", false],
    ["devLocal", "dev-eu1", null, true],
    ["devNone", "dev-eu1", null, false],
  ] as const) {
    const row = t.deps.db
      .insert(backups)
      .values({
        envId: envId(slug),
        kind: "manual",
        status: "completed",
        dbName: `odoo_${slug.replace("-", "_")}`,
        sizeBytes: 100,
        localPath: local ? `/var/lib/odooops/backups/${slug}/b` : null,
        s3Key,
        manifest: { format: 1, env: slug },
        finishedAt: new Date().toISOString(),
      })
      .returning()
      .get();
    backupIds[key] = row.id;
  }
});
afterAll(() => t.cleanup());

describe("restore of another host's backup, as the coordinator checks it", () => {
  test("only a local copy on its host: the dry run names the relay through the coordinator; nothing queued", async () => {
    const before = counts();
    const r = await restore("stage", { backup: backupIds.devLocal, from: "dev-eu1", dryRun: true });
    expect(r.status).toBe(200);
    expect(r.body.plan.backup.from).toBe("relay");
    expect(counts()).toEqual(before);
  });

  test("no copy left at all: refused, naming both hosts; nothing queued", async () => {
    const before = counts();
    const r = await restore("stage", { backup: backupIds.devNone, from: "dev-eu1", confirm: "stage" });
    expect(r.status).toBe(409);
    expect(r.body.error.message).toBe(
      `backup ${backupIds.devNone} was made on host eu-1 and has neither an S3 copy nor a local one there; it cannot be restored on host eu-2`,
    );
    expect(counts()).toEqual(before);
  });

  test("production's backup into staging would be anonymized: refused, --no-anonymize suggested", async () => {
    const before = counts();
    const r = await restore("stage", { backup: backupIds.prodS3, from: "prod", confirm: "stage" });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe(
      "prod's backup would be anonymized into stage, and anonymizing needs prod's own database, on host eu-1, not eu-2; pass --no-anonymize (API: anonymize: false) to restore it as it is",
    );
    expect(counts()).toEqual(before);
  });

  test("an allowed one is read from S3 and queued on the target's host, with the state's manifest", async () => {
    const r = await restore("stage", { backup: backupIds.devS3, from: "dev-eu1", confirm: "stage" });
    expect(r.status).toBe(202);
    expect(r.body.plan.backup.from).toBe("s3");
    const job = t.deps.jobs.queue.row(r.body.job!.id);
    expect(job.hostId).toBe(hostIds["eu-2"]!);
    expect(job.params.transfer).toEqual({ s3Key: "odooops/dev-eu1/b/", manifest: { format: 1, env: "dev-eu1" } });
  });

  test("a backup restored on its own host needs no transfer", async () => {
    const r = await restore("dev-eu1", { backup: backupIds.devLocal });
    expect(r.status).toBe(202);
    expect(r.body.plan.backup.from).toBe("local");
    expect(t.deps.jobs.queue.row(r.body.job!.id).params.transfer).toBeUndefined();
  });
});
