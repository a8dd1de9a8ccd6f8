/**
 * CPU time from /proc/<pid>/stat: a process's own (utime + stime) and that of its children it
 * has already waited for (cutime + cstime), in seconds. On a 2-core machine where pg_dump,
 * PostgreSQL, s3rver and the uploader share the cores, this says who used them.
 */
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc's times; 100 on every Linux this runs on (CONFIG_HZ does not change it). */
const TICKS = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

export interface CpuTimes {
  self: number;
  children: number;
}

export function cpuTimes(pid: number): CpuTimes {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may itself contain spaces.
  const f = stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
  // utime, stime, cutime, cstime are fields 14–17 of the line, 12–15 after "(comm) ".
  const [ut, st, cut, cst] = [f[11], f[12], f[13], f[14]].map((v) => (v ?? 0) / TICKS);
  return { self: (ut ?? 0) + (st ?? 0), children: (cut ?? 0) + (cst ?? 0) };
}

const SETTLE_MS = 1000;

/** Who the CPU of a backup goes to (see `measureCpu`). */
export type CpuRoles = "uploader" | "s3" | "postgres";

/**
 * CPU seconds each process (with its reaped children) used while `op` ran. The daemon must not
 * restart during `op` (its pid is read once).
 */
export async function measureCpu<T>(
  pids: Record<CpuRoles, number>,
  op: () => Promise<T>,
): Promise<{ value: T; cpu: Record<CpuRoles, CpuTimes> }> {
  const roles: CpuRoles[] = ["uploader", "s3", "postgres"];
  // A backend exits a moment after its client closed the connection (pg_dump's, or the data
  // generator's); its time shows in the postmaster's cutime only once reaped. Settling before
  // and after charges each backend to the operation that used it.
  await Bun.sleep(SETTLE_MS);
  const before = roles.map((r) => cpuTimes(pids[r]));
  const value = await op();
  await Bun.sleep(SETTLE_MS);
  const diff = (i: number): CpuTimes => {
    const a = cpuTimes(pids[roles[i] as CpuRoles]);
    const b = before[i] as CpuTimes;
    return { self: a.self - b.self, children: a.children - b.children };
  };
  return { value, cpu: { uploader: diff(0), s3: diff(1), postgres: diff(2) } };
}
