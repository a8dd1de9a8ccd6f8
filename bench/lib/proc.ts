/** Process helpers: memory from /proc, free loopback ports, bounded polling. */
import { readFileSync } from "node:fs";

/** A field of /proc/<pid>/status in bytes (VmRSS = resident now, VmHWM = resident peak). */
export function procStatusBytes(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** A port the kernel just handed out on 127.0.0.1; free again once the probe listener closes. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Polls `check` until it returns a value, at most `timeoutMs`; throws with `what` otherwise. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | null>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const value = await check().catch(() => null);
    if (value !== null) return value;
    await Bun.sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Ends a child we started: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function terminate(
  proc: { pid: number; exited: Promise<number>; kill(signal?: NodeJS.Signals): void },
  graceMs = 5000,
): Promise<void> {
  proc.kill("SIGTERM");
  const timedOut = await Promise.race([proc.exited.then(() => false), Bun.sleep(graceMs).then(() => true)]);
  if (timedOut) {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

/**
 * `teardown` made idempotent and bound to Ctrl-C / SIGTERM (which then exit 130), so a bench
 * interrupted at any point leaves nothing behind. Call the returned function when done.
 */
export function cleanupOnExit(teardown: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | null = null;
  const onSignal = () => void stop().finally(() => process.exit(130));
  // The handlers stay until the teardown finished: a second Ctrl-C must not kill it half-way.
  const stop = () =>
    (done ??= (async () => {
      try {
        await teardown();
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    })());
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return stop;
}

/**
 * TCP connections in ESTABLISHED state whose local end is `port` on IPv4 (/proc/net/tcp): the
 * server side of every connection a listener on 127.0.0.1:`port` holds open.
 */
export function establishedOn(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let n = 0;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const [, local, , state] = line.trim().split(/\s+/);
    if (state === "01" && local?.endsWith(`:${hexPort}`)) n += 1;
  }
  return n;
}
