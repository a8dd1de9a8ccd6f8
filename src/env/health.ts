/**
 * Health gate. Two questions, two requests:
 * - is the site served? `/web/health` through nginx with the env's Host header proves the vhost,
 *   the upstream and the container at once (nginx leaves it open on every tier);
 * - does Odoo reach the env's database? `/web/login?db=<db>` on the container's own port renders
 *   the login page from that database's registry, so only a loaded database answers 200.
 * `/web/health?db_server_status=1` is not used: Odoo 17.0-20240709's handler takes no argument
 * (it ignores the check and logs a warning per poll), and it only ever tried the `postgres`
 * database, never the env's.
 */
import { Unavailable, errorText } from "../errors";
import { displayText } from "../tenant-text";

export interface HealthTarget {
  /** Base URL to connect to, e.g. http://127.0.0.1:80 */
  url: string;
  /** Host header (the env's domain) when going through nginx. */
  host?: string;
  /** Ask for the login page of this database instead of `/web/health`. */
  db?: string;
}

export interface HealthProbe {
  /** Healthy when every target passes in the same round. */
  targets: HealthTarget[];
  timeoutMs: number;
  signal?: AbortSignal;
  intervalMs?: number;
}

export const HEALTH_PATH = "/web/health";

export function probePath(t: Pick<HealthTarget, "db">): string {
  return t.db === undefined ? HEALTH_PATH : `/web/login?db=${encodeURIComponent(t.db)}`;
}

/** What a passing answer looks like: the health JSON, or Odoo's login form (web.login's `oe_login_form`). */
export function answerPasses(t: Pick<HealthTarget, "db">, status: number, body: string): boolean {
  if (status !== 200) return false;
  return t.db === undefined ? /"status"\s*:\s*"pass"/.test(body) : body.includes("oe_login_form");
}

/**
 * An answer body as one short line: an nginx error page is its title, not a screen of HTML. The
 * body is the tenant's (their Odoo answers it) and ends up on operators' terminals through
 * `health check`, `report` and job logs, so it is made safe for terminals first.
 */
export function oneLine(body: string): string {
  const title = /<title>([^<]*)<\/title>/i.exec(body)?.[1];
  return displayText(title ?? body)
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 200);
}

export async function probeOnce(t: HealthTarget): Promise<{ ok: boolean; detail: string }> {
  const path = probePath(t);
  const what = t.host ? `${path} via Host ${t.host}` : `${path} on ${new URL(t.url).host}`;
  try {
    const res = await fetch(`${t.url}${path}`, {
      headers: t.host ? { host: t.host } : {},
      signal: AbortSignal.timeout(5_000),
      redirect: "manual",
      // A pooled socket may have been closed by an nginx reload since the last probe.
      keepalive: false,
    });
    const body = await res.text();
    return {
      ok: answerPasses(t, res.status, body),
      detail: `${what}: HTTP ${res.status} ${oneLine(body)}`,
    };
  } catch (err) {
    return {
      ok: false,
      detail: `${what}: ${errorText(err)}`,
    };
  }
}

export async function probeAll(targets: HealthTarget[]): Promise<{ ok: boolean; detail: string }> {
  for (const t of targets) {
    const r = await probeOnce(t);
    if (!r.ok) return r;
  }
  return { ok: true, detail: "" };
}

export async function waitHealthy(p: HealthProbe): Promise<void> {
  const deadline = Date.now() + p.timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (p.signal?.aborted) throw new Unavailable("health check cancelled");
    const r = await probeAll(p.targets);
    if (r.ok) return;
    last = r.detail;
    // Quick at first (a stand-in or a warm Odoo answers within a second or two), then gentler.
    await Bun.sleep(p.intervalMs ?? (Date.now() < deadline - p.timeoutMs + 5_000 ? 100 : 500));
  }
  throw new Unavailable(`not healthy after ${Math.round(p.timeoutMs / 1000)} s: ${last}`);
}
