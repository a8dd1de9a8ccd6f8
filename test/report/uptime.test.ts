/**
 * Uptime, measured on a real host (PostgreSQL, docker, nginx, the Odoo stand-in): the minute
 * probe asks each serving env through nginx and counts per hour; with the container stopped
 * behind nginx's back the probe fails with nginx's answer; `odooops report` and its API show
 * availability against 99.5 %, backups and deployments of the window.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { ConfigSchema } from "../../src/config/schema";
import { schedulesFor } from "../../src/daemon/schedules";
import { deployments } from "../../src/deploy/deploy.sql";
import { run } from "../../src/exec/run";
import type { JobView } from "../../src/jobs/view";
import { type ServiceReport } from "../../src/report/report";
import { probeServingEnvs } from "../../src/report/uptime";
import { uptimeHours } from "../../src/report/uptime.sql";
import { runCliOn } from "../support/cli";
import { startEnvHost } from "../support/env-host";
import { randomSuffix } from "../support/tmp";

let host: Awaited<ReturnType<typeof startEnvHost>>;
const slug = `up-${randomSuffix(6)}`;

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
const row = () => host.liveEnv(slug)!;

describe("uptime, measured", () => {
  test("the minute probe is scheduled by default, not on an agent, not when switched off", () => {
    const names = (o: object) => schedulesFor(ConfigSchema.parse(o)).map((s) => s.name);
    expect(names({})).toContain("uptime.probe");
    expect(schedulesFor(ConfigSchema.parse({})).find((s) => s.name === "uptime.probe")?.pattern).toBe("* * * * *");
    expect(names({ uptime: { probeSchedule: "" } })).not.toContain("uptime.probe");
    expect(names({ role: "agent" })).not.toContain("uptime.probe");
    expect(() => ConfigSchema.parse({ uptime: { probeSchedule: "every minute" } })).toThrow(/invalid cron pattern/);
  });

  test("a serving env answers through nginx: counted as up", async () => {
    const res = await host.api.request("/api/v1/environments", {
      method: "POST",
      body: JSON.stringify({ name: slug, tier: "dev", modules: ["base", "web"] }),
    });
    expect(res.status).toBe(202);
    expect((await host.waitJob(((await res.json()) as { job: JobView }).job.id)).status).toBe("succeeded");
    const t0 = new Date();
    expect(await probeServingEnvs(host.deps, t0)).toEqual({ probed: 1, failed: 0 });
    expect(await probeServingEnvs(host.deps, new Date(t0.getTime() + 60_000))).toEqual({ probed: 1, failed: 0 });
  }, 300_000);

  test("its container stopped behind nginx: the probe fails with nginx's answer; the report misses 99.5 %", async () => {
    await run({ argv: ["docker", "stop", "-t", "1", row().containerName!] });
    try {
      expect(await probeServingEnvs(host.deps, new Date(Date.now() + 120_000))).toEqual({ probed: 1, failed: 1 });
    } finally {
      await run({ argv: ["docker", "start", row().containerName!] });
    }
    const counted = host.deps.db.select().from(uptimeHours).where(eq(uptimeHours.envId, row().id)).all();
    expect(counted.reduce((n, h) => n + h.probes, 0)).toBe(3);
    expect(counted.reduce((n, h) => n + h.failures, 0)).toBe(1);

    const r = await cli(["--json", "report", "--since", "1h"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as ServiceReport;
    const mine = report.envs.find((e) => e.env === slug)!;
    expect(mine).toMatchObject({ tier: "dev", probes: 3, failures: 1, availability: 66.667, met: false });
    expect(mine.lastFailure).toContain(`/web/health via Host ${row().domain}: HTTP 502`);

    const metrics = await (await host.api.request("/api/v1/metrics")).text();
    for (const window of ["24h", "30d"])
      expect(metrics).toContain(`odooops_env_availability_ratio{env="${slug}",tier="dev",window="${window}"} 0.6666`);

    const text = await cli(["report", "--since", "1h"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^${slug}\\s+dev\\s+66\\.667 % MISSED\\s+3 probes\\s+1 failed`, "m"));
  }, 300_000);

  test("backups and deployments of the window are counted; cancelled ones are not outcomes", async () => {
    const b = await host.api.request(`/api/v1/environments/${slug}/backups`, { method: "POST" });
    expect((await host.waitJob(((await b.json()) as JobView).id)).status).toBe("succeeded");
    // One clock reading: two readings a millisecond apart would make the 120 s deploy 120.001 s.
    const now = Date.now();
    const at = (s: number) => new Date(now - s * 1000).toISOString();
    const envId = row().id;
    host.deps.db
      .insert(deployments)
      .values([
        { envId, release: 90, status: "success", createdAt: at(300), finishedAt: at(180) },
        { envId, release: 91, status: "failed", createdAt: at(100), finishedAt: at(90) },
        { envId, release: 92, status: "cancelled", createdAt: at(80), finishedAt: at(70) },
        // Outside the window.
        { envId, release: 89, status: "failed", createdAt: at(9_000), finishedAt: at(8_000) },
      ])
      .run();
    const res = await host.api.request("/api/v1/report?since=1h");
    expect(res.status).toBe(200);
    const report = (await res.json()) as ServiceReport;
    expect(report.envs.find((e) => e.env === slug)).toMatchObject({
      deploys: { succeeded: 1, failed: 1 },
      backups: { completed: 1, failed: 0 },
    });
    expect(report.deployments).toMatchObject({ succeeded: 1, failed: 1, successRate: 50, met: false, p95Seconds: 120 });
  }, 300_000);

  test("a bad --since is refused, naming the forms", async () => {
    const r = await cli(["report", "--since", "last tuesday"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('invalid time "last tuesday": use a duration like 30m, 12h, 7d, 2w');
  });
});
