/**
 * The connection behind a request, from the Bun server hono receives as its env (`fetch(req,
 * server)`). Absent under `app.request` (in-process tests): no peer address, nothing to exempt.
 */
import type { Context } from "hono";
import { isIP } from "node:net";
import { normalizeIp } from "../config/ip-ranges";

interface BunServerLike {
  requestIP(req: Request): { address: string } | null;
  timeout(req: Request, seconds: number): void;
}

function bunServer(c: Context): BunServerLike | null {
  const env: unknown = c.env;
  if (typeof env !== "object" || env === null || !("requestIP" in env) || !("timeout" in env)) return null;
  return typeof env.requestIP === "function" && typeof env.timeout === "function" ? (env as BunServerLike) : null;
}

/** The socket's peer address. */
export function peerAddress(c: Context): string | null {
  const info = bunServer(c)?.requestIP(c.req.raw);
  return info ? normalizeIp(info.address) : null;
}

/**
 * The client's address: the socket peer, or — only when that peer is a trusted proxy — the
 * nearest X-Forwarded-For entry that is not itself a trusted proxy (entries further left were
 * written by the client and prove nothing).
 */
export function clientIp(c: Context, trusted: (address: string) => boolean): string | null {
  const peer = peerAddress(c);
  if (peer === null || !trusted(peer)) return peer;
  const hops = (c.req.header("x-forwarded-for") ?? "")
    .split(",")
    .map((h) => normalizeIp(h.trim()))
    .filter((h) => isIP(h) !== 0);
  for (let i = hops.length - 1; i >= 0; i--) if (!trusted(hops[i]!)) return hops[i]!;
  return hops[0] ?? peer;
}

/** Exempts a streaming response (SSE, log follow) from the server's idle timeout. */
export function keepOpen(c: Context): void {
  bunServer(c)?.timeout(c.req.raw, 0);
}
