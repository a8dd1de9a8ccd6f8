/**
 * Watchers for "it streams" without timing anything (test/db/streaming.test.ts):
 *   - every regular file that this process or any of its descendants (pg_dump, tar,
 *     pg_restore) holds open FOR WRITING, and every file that appears or grows under the
 *     watched directories, recorded when it exceeds a size: a temp file of the dump would show
 *     up in one or the other, wherever it was written;
 *   - this process's VmRSS peak over the operation (sampled), against its value before.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";

/** pid and all its descendants, from /proc/<pid>/task/<tid>/children. */
function family(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i] as number;
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${tid}/children`, "utf8").split(" ").filter(Boolean))
          out.push(Number(c));
      } catch {
        // Exited meanwhile.
      }
    }
  }
  return out;
}

/** Regular files ≥ `minBytes` open with O_WRONLY or O_RDWR by `pid` or a descendant. */
export function bigWritableFiles(pid: number, minBytes: number): string[] {
  const found: string[] = [];
  for (const p of family(pid)) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${p}/fdinfo/${fd}`, "utf8"))?.[1];
        // O_ACCMODE: 0 = read only.
        if (!flags || (Number.parseInt(flags, 8) & 3) === 0) continue;
        const st = statSync(`/proc/${p}/fd/${fd}`);
        if (st.isFile() && st.size >= minBytes)
          found.push(`${readlinkSync(`/proc/${p}/fd/${fd}`)} (pid ${p}, ${st.size} bytes)`);
      } catch {
        // fd closed meanwhile.
      }
    }
  }
  return found;
}

function sizesUnder(dir: string, out: Map<string, number>): void {
  let entries: import("node:fs").Dirent[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sizesUnder(p, out);
    else if (e.isFile()) {
      try {
        out.set(p, statSync(p).size);
      } catch {
        // Removed meanwhile.
      }
    }
  }
}

export interface WatchReport<T> {
  value: T;
  /** Files seen open for writing, or new/grown under the dirs, at ≥ minBytes. */
  bigFiles: string[];
  samples: number;
}

/** Runs `op` while polling every `intervalMs` for big files being written. */
export async function watchStreaming<T>(
  op: () => Promise<T>,
  /** `ignore`: path prefixes that are not the operation's files (s3rver's and PostgreSQL's own storage). */
  opts: { dirs: string[]; minBytes: number; ignore?: string[]; intervalMs?: number },
): Promise<WatchReport<T>> {
  const initial = new Map<string, number>();
  for (const d of opts.dirs) sizesUnder(d, initial);
  const big = new Set<string>();
  let samples = 0;
  let running = true;
  const poll = () => {
    for (const f of bigWritableFiles(process.pid, opts.minBytes)) {
      if (!(opts.ignore ?? []).some((prefix) => f.startsWith(prefix))) big.add(f.replace(/, \d+ bytes\)$/, ")"));
    }
    const now = new Map<string, number>();
    for (const d of opts.dirs) sizesUnder(d, now);
    for (const [p, size] of now) if (size >= opts.minBytes && size > (initial.get(p) ?? 0)) big.add(p);
    samples++;
  };
  const loop = (async () => {
    while (running) {
      poll();
      await Bun.sleep(opts.intervalMs ?? 25);
    }
  })();
  try {
    const value = await op();
    return { value, bigFiles: [...big], samples };
  } finally {
    running = false;
    await loop;
  }
}
