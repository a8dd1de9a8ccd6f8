/**
 * First middleware of the API: finds the client IP (trusted proxies only), runs the request in an
 * audit context, and afterwards writes the row a request did not write itself — every mutating
 * call (ok or failed) and every denial (401/403, coalesced per IP, actor and route).
 */
import type { MiddlewareHandler } from "hono";
import { auditContext, type AuditRequestContext } from "../audit/context";
import { ipMatcher } from "../config/ip-ranges";
import { clientIp } from "./conn";
import type { ApiEnv } from "./deps";
import type { CoordinatorDeps } from "../deps";

const READS = new Set(["GET", "HEAD", "OPTIONS"]);

export function auditMiddleware(deps: CoordinatorDeps): MiddlewareHandler<ApiEnv> {
  const trusted = ipMatcher(deps.config.api.trustedProxies);
  return async (c, next) => {
    const ip = clientIp(c, trusted);
    c.set("clientIp", ip);
    const ctx: AuditRequestContext = { ip, recorded: false };
    await auditContext.run(ctx, next);
    if (ctx.recorded) return;
    const status = c.res.status;
    const method = c.req.method;
    const target = `${method} ${c.req.path}`;
    const actor = c.get("principal")?.username ?? "anonymous";
    if (status === 401 || status === 403) {
      const action = status === 401 ? "auth.authenticate" : "auth.forbidden";
      deps.audit.deny(`${action}|${ip}|${actor}|${target}`, {
        actor,
        action,
        target,
        ip,
        details: { status, reason: c.error?.message ?? null },
      });
      return;
    }
    if (READS.has(method)) return;
    deps.audit.record({
      actor,
      action: "api.call",
      target,
      outcome: status < 400 ? "ok" : "failed",
      ip,
      details: { status, ...(c.error ? { error: c.error.message } : {}) },
    });
  };
}
