/** Byte counts for people: one format in CLI tables, job logs and error messages. */

/** 1536 → "1.5 KiB", 20 GiB → "20 GiB"; `missing` when the size is not known. */
export function formatBytes(n: number | null, missing = "-"): string {
  if (n === null) return missing;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
