/**
 * Health gate: Odoo's `/web/health?db_server_status=1` answers 200 `{"status":"pass"}` only when
 * the server runs and reaches its database. Checked through nginx with the env's Host header,
 * so the vhost, the upstream and the container are all proven at once.
 */
import { Unavailable } from "../errors";

export interface HealthProbe {
  /** Base URL to connect to, e.g. http://127.0.0.1:80 */
  url: string;
  /** Host header (the env's domain) when going through nginx. */
  host?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  intervalMs?: number;
}

export const HEALTH_PATH = "/web/health?db_server_status=1";

export async function probeOnce(p: Pick<HealthProbe, "url" | "host">): Promise<{ ok: boolean; detail: string }> {
  try {
    const res = await fetch(`${p.url}${HEALTH_PATH}`, {
      headers: p.host ? { host: p.host } : {},
      signal: AbortSignal.timeout(5_000),
      redirect: "manual",
      // A pooled socket may have been closed by an nginx reload since the last probe.
      keepalive: false,
    });
    const body = await res.text();
    const ok = res.status === 200 && /"status"\s*:\s*"pass"/.test(body);
    return { ok, detail: `HTTP ${res.status} ${body.slice(0, 200)}` };
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

export async function waitHealthy(p: HealthProbe): Promise<void> {
  const deadline = Date.now() + p.timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (p.signal?.aborted) throw new Unavailable("health check cancelled");
    const r = await probeOnce(p);
    if (r.ok) return;
    last = r.detail;
    // Quick at first (a stand-in or a warm Odoo answers within a second or two), then gentler.
    await Bun.sleep(p.intervalMs ?? (Date.now() < deadline - p.timeoutMs + 5_000 ? 100 : 500));
  }
  throw new Unavailable(`not healthy after ${Math.round(p.timeoutMs / 1000)} s (${HEALTH_PATH}${p.host ? ` via Host ${p.host}` : ""}): ${last}`);
}
