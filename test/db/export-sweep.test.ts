/**
 * Exports never downloaded expire: listed with their env and expiry, deleted by the
 * `exports.sweep` schedule once `exports.expireHours` have passed (a fake clock moves time), or at
 * once by `db exports --clean`. Real state, real files; no agent (the export jobs stay queued and
 * the zips are written here the way the job writes them).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { ConfigSchema } from "../../src/config/schema";
import { schedulesFor } from "../../src/daemon/schedules";
import { exportFile, exportsDir } from "../../src/db/export-job";
import { exportSweepSchedule } from "../../src/db/export-sweep";
import type { ExportView } from "../../src/db/schema";
import { environments } from "../../src/env/env.sql";
import type { JobView } from "../../src/jobs/view";
import { makeTestApi } from "../support/api";
import { runCliOn } from "../support/cli";

let t: Awaited<ReturnType<typeof makeTestApi>>;
const cli = (...argv: string[]) => runCliOn(t, argv);
const HOUR = 3_600_000;
const T0 = Date.parse("2026-12-01T10:00:00.000Z");

beforeAll(async () => {
  t = await makeTestApi({ config: ConfigSchema.parse({ exports: { expireHours: 6 } }) });
  const r = await t.request("/api/v1/environments", {
    method: "POST",
    body: JSON.stringify({ name: "shop", tier: "dev" }),
  });
  expect(r.status).toBe(202);
  t.deps.db.update(environments).set({ status: "active" }).where(eq(environments.slug, "shop")).run();
});
afterAll(() => t.cleanup());

/** An export job for shop, and its zip as the finished job leaves it, written at `at`. */
async function finishedExport(at: number, bytes = 100): Promise<string> {
  const res = await t.request("/api/v1/environments/shop/db/export", { method: "POST" });
  expect(res.status).toBe(202);
  const job = (await res.json()) as JobView;
  const id = String(t.deps.jobs.queue.row(job.id).params.exportId);
  mkdirSync(exportsDir(t.deps.paths), { recursive: true });
  writeFileSync(exportFile(t.deps.paths, id), Buffer.alloc(bytes));
  utimesSync(exportFile(t.deps.paths, id), new Date(at), new Date(at));
  return id;
}

const listed = async () => (await (await t.request("/api/v1/exports")).json()) as ExportView[];

describe("expiring exports", () => {
  let old = "";
  let recent = "";

  test("listed oldest first with the env, job, size and expiry (expireHours after written)", async () => {
    expect(await listed()).toEqual([]);
    old = await finishedExport(T0, 100);
    recent = await finishedExport(T0 + 4 * HOUR, 250);
    // Not finished exports: a zip being written, a file that is not an export.
    writeFileSync(join(exportsDir(t.deps.paths), `${crypto.randomUUID()}.zip.partial`), "x");
    writeFileSync(join(exportsDir(t.deps.paths), "notes.txt"), "x");
    const list = await listed();
    expect(list.map((e) => [e.id, e.env, e.bytes, e.createdBy, e.writtenAt, e.expiresAt])).toEqual([
      [old, "shop", 100, "admin", "2026-12-01T10:00:00.000Z", "2026-12-01T16:00:00.000Z"],
      [recent, "shop", 250, "admin", "2026-12-01T14:00:00.000Z", "2026-12-01T20:00:00.000Z"],
    ]);
    expect(list[0]!.job).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("the schedule deletes each one once its time has come, nothing before", async () => {
    let now = T0 + 6 * HOUR - 1;
    const schedule = exportSweepSchedule("41 * * * *", { now: () => new Date(now) });
    await schedule.tick(t.deps);
    expect((await listed()).map((e) => e.id)).toEqual([old, recent]);
    now = T0 + 6 * HOUR;
    await schedule.tick(t.deps);
    expect((await listed()).map((e) => e.id)).toEqual([recent]);
    expect(existsSync(exportFile(t.deps.paths, old))).toBe(false);
    now = T0 + 10 * HOUR - 1;
    await schedule.tick(t.deps);
    expect((await listed()).map((e) => e.id)).toEqual([recent]);
    now = T0 + 10 * HOUR;
    await schedule.tick(t.deps);
    expect(await listed()).toEqual([]);
    // What is not a finished export stays.
    expect(existsSync(join(exportsDir(t.deps.paths), "notes.txt"))).toBe(true);
  });

  test("db exports lists; --clean deletes only expired ones, --clean --all every one", async () => {
    const fresh = await finishedExport(Date.now(), 10);
    const stale = await finishedExport(Date.now() - 7 * HOUR, 20);
    let r = await cli("db", "exports");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(stale);
    expect(r.stdout).toContain(fresh);
    expect(r.stdout.indexOf(stale)).toBeLessThan(r.stdout.indexOf(fresh));
    r = await cli("db", "exports", "--clean", "--json");
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as ExportView[]).map((e) => e.id)).toEqual([stale]);
    expect((await listed()).map((e) => e.id)).toEqual([fresh]);
    expect((await cli("db", "exports", "--all")).code).toBe(2);
    r = await cli("db", "exports", "--clean", "--all");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("deleted 1 export (10 B)");
    expect(await listed()).toEqual([]);
  });

  test("the sweep is scheduled by default (hourly at :41) and off with an empty pattern", () => {
    expect(schedulesFor(ConfigSchema.parse({})).find((s) => s.name === "exports.sweep")?.pattern).toBe("41 * * * *");
    expect(
      schedulesFor(ConfigSchema.parse({ exports: { sweepSchedule: "" } })).some((s) => s.name === "exports.sweep"),
    ).toBe(false);
    expect(ConfigSchema.parse({}).exports.expireHours).toBe(24);
  });
});
