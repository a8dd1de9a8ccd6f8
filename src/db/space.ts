/** Free space checks before writing what a user sent (uploads, unpacked zips). */
import { existsSync, statfsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { Invalid } from "../errors";

/** A path that does not exist yet lives on its nearest existing ancestor's filesystem. */
function existingAncestor(path: string): string {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function freeBytes(path: string): { free: number; dev: number } {
  const at = existingAncestor(path);
  const s = statfsSync(at);
  return { free: s.bavail * s.bsize, dev: statSync(at).dev };
}

/**
 * Throws Invalid unless the filesystems of the given paths have room for the bytes planned on
 * each (paths on one filesystem add up). `what` names the data in the message.
 */
export function assertFreeSpace(what: string, needs: { path: string; bytes: number }[]): void {
  const byDev = new Map<number, { path: string; bytes: number; free: number }>();
  for (const n of needs) {
    const { free, dev } = freeBytes(n.path);
    const prev = byDev.get(dev);
    byDev.set(dev, { path: prev?.path ?? n.path, bytes: (prev?.bytes ?? 0) + n.bytes, free });
  }
  for (const d of byDev.values()) {
    if (d.bytes > d.free)
      throw new Invalid(
        `not enough free space for ${what} on the filesystem of ${d.path}: needs ${formatBytes(d.bytes)}, ${formatBytes(d.free)} free`,
      );
  }
}
