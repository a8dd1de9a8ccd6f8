/** After (re)starting the daemon: wait until its health endpoint answers. */
import { Unavailable } from "../errors";
import { fetchHealth, type Health } from "../doctor/daemon";

export async function waitForHealth(
  base: string,
  opts: { timeoutMs?: number; intervalMs?: number; hint?: string } = {},
): Promise<Health> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const r = await fetchHealth(base, 5_000);
    if (r.ok) return r.health;
    if (Date.now() >= deadline)
      throw new Unavailable(`the daemon does not answer: ${r.error}${opts.hint ? `; ${opts.hint}` : ""}`);
    await Bun.sleep(opts.intervalMs ?? 500);
  }
}
