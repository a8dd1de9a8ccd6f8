/**
 * Who listens on a TCP port, from /proc (no ss/lsof needed): the listening sockets' inodes from
 * /proc/net/tcp{,6}, then the processes holding a file descriptor on one of them.
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";

const LISTEN = "0A";

/** Inodes of sockets in LISTEN state on `port` in one /proc/net/tcp-format table. */
export function listeningInodes(table: string, port: number): number[] {
  const out: number[] = [];
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== LISTEN) continue;
    const local = f[1];
    if (Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === port) out.push(Number(f[9]));
  }
  return out;
}

function readOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}

export interface Holder {
  pid: number;
  ppid: number;
  /** Process name (/proc/<pid>/comm). */
  name: string;
}

function processInfo(pid: number): Holder {
  const stat = readOr(`/proc/${pid}/stat`, "");
  // Fields after the parenthesized name: state, ppid, …
  const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? 0);
  return { pid, ppid, name: readOr(`/proc/${pid}/comm`, "?").trim() };
}

/** Processes listening on `port` (empty: the port is free). Needs root to see other users' processes. */
export function portHolders(port: number, procRoot = "/proc"): { listening: boolean; holders: Holder[] } {
  const inodes = new Set([
    ...listeningInodes(readOr(`${procRoot}/net/tcp`, ""), port),
    ...listeningInodes(readOr(`${procRoot}/net/tcp6`, ""), port),
  ]);
  if (inodes.size === 0) return { listening: false, holders: [] };
  const holders: Holder[] = [];
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${entry}/fd`);
    } catch {
      continue;
    }
    const holds = fds.some((fd) => {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`${procRoot}/${entry}/fd/${fd}`));
        return m !== null && inodes.has(Number(m[1]));
      } catch {
        return false;
      }
    });
    if (holds) holders.push(processInfo(Number(entry)));
  }
  return { listening: true, holders };
}
