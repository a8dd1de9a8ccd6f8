/**
 * Scheduled backups: cron patterns per tier validated at config load (the exact key in the
 * error), which tiers are due between two ticks, and the Schedule's tick on a real host (clock
 * moved by hand, tick called directly): a `scheduled` backup per active env of a due tier, none
 * for an env whose backup is already queued. Retention keeps a backup a deployment references.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { resolvePaths } from "../../src/config/paths";
import { loadConfig } from "../../src/config/load";
import { ConfigSchema } from "../../src/config/schema";
import { schedulesFor } from "../../src/daemon/schedules";
import { backups } from "../../src/db/backup.sql";
import { backupSchedule, dueTiers } from "../../src/db/schedule";
import type { BackupView } from "../../src/db/schema";
import { deployments } from "../../src/deploy/deploy.sql";
import { environments } from "../../src/env/env.sql";
import { Invalid } from "../../src/errors";
import type { JobView } from "../../src/jobs/view";
import { clearOfUtcMidnight } from "../support/clock";
import { startEnvHost } from "../support/env-host";
import { makeTempDir, randomSuffix, removeTempDir } from "../support/tmp";

describe("backup schedules in the config", () => {
  const defaults = ConfigSchema.parse({}).backups.schedules;

  test("defaults: production every 6 h, staging daily, dev tiers none", () => {
    expect(defaults).toEqual({ dev: "", dev_ephemeral: "", staging: "0 3 * * *", production: "0 */6 * * *" });
    expect(schedulesFor(ConfigSchema.parse({})).map((s) => s.name)).toContain("backups");
    const off = ConfigSchema.parse({ backups: { schedules: { staging: "", production: "" } } });
    expect(schedulesFor(off).map((s) => s.name)).not.toContain("backups");
  });

  test("an invalid pattern is refused at load with the exact key, from the file and from the environment", () => {
    const root = makeTempDir("odooops-sched-");
    try {
      const paths = resolvePaths(root);
      mkdirSync(paths.configDir, { recursive: true });
      writeFileSync(paths.configYaml, "backups:\n  schedules:\n    production: '61 * * * *'\n");
      expect(() => loadConfig(paths, { env: {} })).toThrow(Invalid);
      expect(() => loadConfig(paths, { env: {} })).toThrow(
        /config\.yaml: backups\.schedules\.production: invalid cron pattern "61 \* \* \* \*"/,
      );
      writeFileSync(paths.configYaml, "backups:\n  schedules:\n    production: '0 */4 * * *'\n");
      expect(loadConfig(paths, { env: {} }).backups.schedules.production).toBe("0 */4 * * *");
      expect(() => loadConfig(paths, { env: { ODOOOPS_BACKUPS_SCHEDULES_STAGING: "daily" } })).toThrow(
        /backups\.schedules\.staging: invalid cron pattern "daily"/,
      );
      expect(loadConfig(paths, { env: { ODOOOPS_BACKUPS_SCHEDULES_DEV: "@daily" } }).backups.schedules.dev).toBe(
        "@daily",
      );
    } finally {
      removeTempDir(root);
    }
  });

  test("due tiers between two ticks (UTC)", () => {
    const at = (iso: string) => new Date(iso);
    expect(dueTiers(defaults, at("2025-01-01T05:59:30Z"), at("2025-01-01T06:00:00.004Z"))).toEqual(["production"]);
    expect(dueTiers(defaults, at("2025-01-01T06:00:00.004Z"), at("2025-01-01T06:01:00Z"))).toEqual([]);
    expect(dueTiers(defaults, at("2025-01-01T02:59:59Z"), at("2025-01-01T03:00:01Z"))).toEqual(["staging"]);
    // Both are due at midnight; a long gap (daemon busy) still yields each tier once.
    expect(dueTiers(defaults, at("2024-12-31T23:00:00Z"), at("2025-01-01T04:00:00Z"))).toEqual([
      "staging",
      "production",
    ]);
    expect(
      dueTiers({ ...defaults, dev: "*/5 * * * *" }, at("2025-01-01T10:04:00Z"), at("2025-01-01T10:05:00Z")),
    ).toEqual(["dev"]);
  });
});

let host: Awaited<ReturnType<typeof startEnvHost>>;
/** Longer than the two backup jobs of one test take, with room on a loaded machine. */
const SAME_DAY_MARGIN_MS = 180_000;
const prod = `sc-prod-${randomSuffix(5)}`;
const dev = `sc-dev-${randomSuffix(5)}`;

beforeAll(async () => {
  host = await startEnvHost({ configOverrides: { tiers: { production: { cpus: 1, memoryMb: 1024, workers: 0 } } } });
}, 120_000);

afterAll(async () => {
  await host?.stop();
}, 120_000);

function envId(slug: string): string {
  return host.deps.db.select().from(environments).where(eq(environments.slug, slug)).get()!.id;
}

function backupJobsOf(slug: string): JobView[] {
  return host.deps.jobs.queue.list({ kind: "db.backup", target: slug, limit: 100 });
}

async function list(slug: string): Promise<BackupView[]> {
  const res = await host.api.request(`/api/v1/environments/${slug}/backups?limit=100`);
  expect(res.status).toBe(200);
  return (await res.json()) as BackupView[];
}

async function manualBackup(slug: string): Promise<JobView> {
  const res = await host.api.request(`/api/v1/environments/${slug}/backups`, { method: "POST" });
  expect(res.status).toBe(202);
  return host.waitJob(((await res.json()) as JobView).id);
}

describe("the backups Schedule on a real host", () => {
  let clock = new Date("2025-01-01T05:59:30Z");
  const schedule = backupSchedule({ now: () => clock });

  test("a production and a dev env", async () => {
    for (const [name, tier] of [
      [prod, "production"],
      [dev, "dev"],
    ]) {
      const res = await host.api.request("/api/v1/environments", {
        method: "POST",
        body: JSON.stringify({ name, tier }),
      });
      expect(res.status).toBe(202);
      expect((await host.waitJob(((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
    }
  }, 300_000);

  test("due production tick: one scheduled backup for the production env only, and it completes", async () => {
    clock = new Date("2025-01-01T06:00:00.500Z");
    await schedule.tick(host.deps);
    const [job, ...more] = backupJobsOf(prod);
    expect(more).toEqual([]);
    expect(backupJobsOf(dev)).toEqual([]);
    const done = await host.waitJob(job!.id);
    expect(done.status).toBe("succeeded");
    const row = host.deps.db
      .select()
      .from(backups)
      .where(eq(backups.id, String(done.result?.backupId)))
      .get()!;
    expect(row).toMatchObject({ kind: "scheduled", status: "completed", envId: envId(prod) });

    clock = new Date("2025-01-01T06:01:00.500Z");
    await schedule.tick(host.deps);
    expect(backupJobsOf(prod)).toHaveLength(1);
  }, 240_000);

  test("an env whose backup job is still queued is skipped (one backup per env at a time)", async () => {
    // A backup job of prod that no local agent will take (another host's), so it stays queued.
    const blocker = host.deps.jobs.queue.enqueue({
      kind: "db.backup",
      params: { envId: envId(prod), slug: prod, backupId: "blocker" },
      lockKey: `blocker-${randomSuffix()}`,
      target: prod,
      steps: [{ name: "dump", title: "dump" }],
      createdBy: "test",
      hostId: "another-host",
    });
    try {
      clock = new Date("2025-01-01T12:00:00.500Z");
      await schedule.tick(host.deps);
      expect(backupJobsOf(prod).map((j) => j.id)).toContain(blocker.id);
      expect(backupJobsOf(prod)).toHaveLength(2);
    } finally {
      host.deps.jobs.queue.cancel(blocker.id);
    }
    // Next due time, nothing in the way: backed up again.
    clock = new Date("2025-01-01T18:00:00.500Z");
    await schedule.tick(host.deps);
    const jobsNow = backupJobsOf(prod);
    expect(jobsNow).toHaveLength(3);
    expect((await host.waitJob(jobsNow[0]!.id)).status).toBe("succeeded");
  }, 240_000);

  test("a tier given a schedule at runtime is picked up; stopped envs are not backed up", async () => {
    host.deps.config.backups.schedules.dev = "*/5 * * * *";
    try {
      host.deps.db.update(environments).set({ status: "stopped" }).where(eq(environments.slug, dev)).run();
      clock = new Date("2025-01-01T18:05:00.500Z");
      await schedule.tick(host.deps);
      expect(backupJobsOf(dev)).toEqual([]);
      host.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, dev)).run();
      clock = new Date("2025-01-01T18:10:00.500Z");
      await schedule.tick(host.deps);
      const [job] = backupJobsOf(dev);
      expect((await host.waitJob(job!.id)).status).toBe("succeeded");
    } finally {
      host.deps.config.backups.schedules.dev = "";
    }
  }, 240_000);
});

describe("retention never deletes a backup a deployment needs for rollback", () => {
  test(
    "superseded the same day but referenced by a deployment: kept (protected); once unreferenced: deleted",
    async () => {
      const id = envId(dev);
      const [first] = (await list(dev)).filter((b) => b.status === "completed");
      expect(first).toBeDefined();
      // The three must be dated on one UTC day (retention keeps each day's newest): the first was
      // made by an earlier test, so it is dated now, and the next two are never made across midnight.
      await clearOfUtcMidnight(SAME_DAY_MARGIN_MS);
      host.deps.db.update(backups).set({ createdAt: new Date().toISOString() }).where(eq(backups.id, first!.id)).run();
      const dep = host.deps.db
        .insert(deployments)
        .values({ envId: id, release: 1, status: "success", backupId: first!.id })
        .returning()
        .get();

      const second = await manualBackup(dev);
      expect(second.status).toBe("succeeded");
      expect(second.result?.expired).toEqual([]);
      const view = (await list(dev)).find((b) => b.id === first!.id)!;
      expect(view.status).toBe("completed");
      expect(view.keptFor).toContain("protected");

      host.deps.db.delete(deployments).where(eq(deployments.id, dep.id)).run();
      const third = await manualBackup(dev);
      // Same day as the third: the first and the second are superseded, nothing protects them.
      expect([...((third.result?.expired as string[] | undefined) ?? [])].sort()).toEqual(
        [first!.id, String(second.result?.backupId)].sort(),
      );
      expect(host.deps.db.select().from(backups).where(eq(backups.id, first!.id)).get()!.status).toBe("expired");
    },
    240_000 + SAME_DAY_MARGIN_MS,
  );

  test("destroy both envs", async () => {
    for (const slug of [prod, dev]) {
      // Production needs its name again (confirm) and gets a final backup first.
      const res = await host.api.request(`/api/v1/environments/${slug}?confirm=${slug}`, { method: "DELETE" });
      expect((await host.waitJob(((await res.json()) as JobView).id)).status).toBe("succeeded");
    }
  }, 240_000);
});
