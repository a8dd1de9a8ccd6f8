/**
 * The console's pages, gzipped in one call. A page leaves its route as one finished string, so
 * hono's compress() (a CompressionStream piped through per response) would run the WHATWG streams
 * machinery only the console uses, and the JIT keeps what it compiled for it while the daemon
 * idles (bench/README.md, web console). SSE and other non-HTML answers are left alone.
 */
import type { MiddlewareHandler } from "hono";
import { acceptsGzip } from "./assets";

/** Below this, gzip's header and checksum cost more than they save (compress()'s own threshold). */
const THRESHOLD = 1024;

export function gzipPages(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const res = c.res;
    if (!(res.headers.get("content-type") ?? "").startsWith("text/html") || res.headers.has("content-encoding")) return;
    res.headers.append("vary", "accept-encoding");
    if (c.req.method === "HEAD" || !acceptsGzip(c.req.header("accept-encoding"))) return;
    const body = new Uint8Array(await res.arrayBuffer());
    const headers = new Headers(res.headers);
    let out: Uint8Array<ArrayBuffer> = body;
    if (body.length >= THRESHOLD) {
      out = new Uint8Array(Bun.gzipSync(body));
      headers.set("content-encoding", "gzip");
    }
    headers.delete("content-length");
    // Cleared first: the setter would otherwise re-wrap the new body in a stream and merge headers.
    c.res = undefined;
    c.res = new Response(out, { status: res.status, statusText: res.statusText, headers });
  };
}
