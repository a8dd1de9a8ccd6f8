/** Free space where odooops writes: state and filestores, local backups, docker's images. */
import { existsSync, statSync, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { type Check, type CheckStatus, skip } from "./check";

const GIB = 1024 ** 3;

/** fail below 1 GiB or 2 % free; warn below 5 GiB or 10 %. */
export function diskLevel(freeBytes: number, totalBytes: number): CheckStatus {
  const ratio = totalBytes > 0 ? freeBytes / totalBytes : 0;
  if (freeBytes < GIB || ratio < 0.02) return "fail";
  if (freeBytes < 5 * GIB || ratio < 0.1) return "warn";
  return "pass";
}

export function formatGib(bytes: number): string {
  const g = bytes / GIB;
  return `${g < 10 ? g.toFixed(1) : Math.round(g)} GiB`;
}

/** A path that does not exist yet lives on its nearest existing ancestor's filesystem. */
function existingAncestor(path: string): string {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

export interface DiskUse {
  label: string;
  path: string;
  free: number;
  total: number;
  level: CheckStatus;
}

export function diskUse(label: string, path: string): DiskUse & { dev: number } {
  const at = existingAncestor(path);
  const s = statfsSync(at);
  const free = s.bavail * s.bsize;
  const total = s.blocks * s.bsize;
  return { label, path, free, total, level: diskLevel(free, total), dev: statSync(at).dev };
}

const ORDER: CheckStatus[] = ["pass", "skip", "warn", "fail"];

export const diskCheck: Check = {
  id: "disk",
  title: "disk space for state, backups and docker",
  async run(ctx) {
    if (!ctx.config) return skip("config invalid");
    const places: [string, string][] = [["state", ctx.paths.dataDir]];
    const local = ctx.config.backups.local;
    if (local.enabled) places.push(["backups", local.dir !== "" ? local.dir : ctx.paths.backupsDir]);
    const d = await ctx.docker();
    if (d.ok && d.rootDir) places.push(["docker", d.rootDir]);
    // One line per filesystem: the same free space listed three times says nothing.
    const seen = new Map<number, DiskUse & { labels: string[] }>();
    for (const [label, path] of places) {
      const u = diskUse(label, path);
      const prev = seen.get(u.dev);
      if (prev) prev.labels.push(label);
      else seen.set(u.dev, { ...u, labels: [label] });
    }
    const uses = [...seen.values()];
    const worst = uses.reduce<CheckStatus>((w, u) => (ORDER.indexOf(u.level) > ORDER.indexOf(w) ? u.level : w), "pass");
    const message = uses
      .map(
        (u) =>
          `${u.labels.join("+")} ${u.path}: ${formatGib(u.free)} free (${Math.round((100 * u.free) / Math.max(u.total, 1))}%)`,
      )
      .join("; ");
    if (worst === "pass") return { status: "pass", message };
    return {
      status: worst,
      message,
      hint: "free space (old backups: odooops db backups; images: docker image prune) or grow the filesystem",
    };
  },
};
