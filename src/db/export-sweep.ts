/**
 * `db export` zips wait in `<root>/exports` until the CLI downloads and deletes them; one never
 * downloaded (the CLI interrupted, the API called by hand) would stay forever. Each is deleted
 * `exports.expireHours` after it was written (its mtime: the rename keeps the last write's time)
 * by the `exports.sweep` schedule, or at once by `db exports --clean`.
 */
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/schema";
import type { Paths } from "../config/paths";
import type { Schedule } from "../jobs/schedule";
import { jobsOfKind } from "../jobs/lookup";
import { Log } from "../log";
import type { Db } from "../state/db";
import { exportJob, exportsDir } from "./export-job";
import type { ExportView } from "./schema";

const log = Log.create("exports");
const FINISHED = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.zip$/;

export interface ExportDeps {
  db: Db;
  paths: Pick<Paths, "dataDir">;
  config: Pick<Config, "exports">;
}

/** Finished exports on this host, oldest first, with the env and job that wrote each. */
export async function listExports(deps: ExportDeps): Promise<ExportView[]> {
  const names = await readdir(exportsDir(deps.paths)).catch(() => [] as string[]);
  const writers = new Map(
    jobsOfKind(deps.db, exportJob.kind).map(
      (j) => [j.params.exportId, { env: j.target, job: j.id, createdBy: j.createdBy }] as const,
    ),
  );
  const ttlMs = deps.config.exports.expireHours * 3_600_000;
  const out: ExportView[] = [];
  for (const name of names) {
    const id = FINISHED.exec(name)?.[1];
    if (!id) continue;
    const s = await stat(join(exportsDir(deps.paths), name)).catch(() => null);
    if (!s?.isFile()) continue;
    const w = writers.get(id);
    out.push({
      id,
      env: w?.env ?? null,
      job: w?.job ?? null,
      createdBy: w?.createdBy ?? null,
      bytes: s.size,
      writtenAt: s.mtime.toISOString(),
      expiresAt: new Date(s.mtimeMs + ttlMs).toISOString(),
    });
  }
  return out.sort((a, b) => a.writtenAt.localeCompare(b.writtenAt));
}

/** Deletes the exports whose expiry is at or before `now` (`all`: every one); returns them. */
export async function sweepExports(deps: ExportDeps, now: Date, opts: { all?: boolean } = {}): Promise<ExportView[]> {
  const expired = (await listExports(deps)).filter(
    (e) => opts.all === true || Date.parse(e.expiresAt) <= now.getTime(),
  );
  for (const e of expired) await rm(join(exportsDir(deps.paths), `${e.id}.zip`), { force: true });
  return expired;
}

/**
 * The tick deletes files itself instead of enqueueing a job: it touches only the daemon's own
 * exports directory, no environment, so there is nothing to lock or resume.
 */
export function exportSweepSchedule(pattern: string, opts: { now?: () => Date } = {}): Schedule {
  const clock = opts.now ?? (() => new Date());
  return {
    name: "exports.sweep",
    pattern,
    async tick(deps) {
      const deleted = await sweepExports(deps, clock());
      for (const e of deleted)
        log.info("expired export deleted", { export: e.id, env: e.env ?? "?", bytes: e.bytes, writtenAt: e.writtenAt });
    },
  };
}
