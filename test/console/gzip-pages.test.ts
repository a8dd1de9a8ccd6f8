/** gzipPages: whole HTML pages gzipped in one call; everything else passes untouched. */
import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { setCookie } from "hono/cookie";
import { streamSSE } from "hono/streaming";
import { gzipPages } from "../../src/console/gzip-pages";

const BIG = `<!doctype html><p>${"row &amp; more ".repeat(400)}</p>`;

function app() {
  const a = new Hono();
  a.use("*", gzipPages());
  a.get("/page", (c) => {
    setCookie(c, "a", "1");
    setCookie(c, "b", "2");
    return c.html(BIG, 201);
  });
  a.get("/small", (c) => c.html("<p>hi</p>"));
  a.get("/text", (c) => c.text(BIG));
  a.get("/events", (c) =>
    streamSSE(c, async (s) => {
      await s.writeSSE({ data: BIG });
    }),
  );
  return a;
}

const get = (path: string, encoding?: string, method = "GET") =>
  app().request(path, { method, headers: encoding === undefined ? {} : { "accept-encoding": encoding } });

describe("gzipPages", () => {
  test("a page is gzipped when the client takes gzip: same bytes, status and cookies (each once)", async () => {
    const res = await get("/page", "gzip, deflate, br");
    expect(res.status).toBe(201);
    expect(res.headers.get("content-encoding")).toBe("gzip");
    expect(res.headers.get("content-length")).toBeNull();
    expect(res.headers.get("vary")?.toLowerCase()).toContain("accept-encoding");
    expect(res.headers.get("content-type")).toStartWith("text/html");
    expect(res.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"]);
    const wire = new Uint8Array(await res.arrayBuffer());
    expect(wire.length).toBeLessThan(BIG.length / 10);
    expect(new TextDecoder().decode(Bun.gunzipSync(wire))).toBe(BIG);
  });

  test("a client that refuses gzip, or a HEAD, gets the page as it was", async () => {
    for (const refuses of [undefined, "identity", "gzip;q=0", "br", "*;q=0"]) {
      const res = await get("/page", refuses);
      expect(res.headers.get("content-encoding")).toBeNull();
      expect(res.headers.get("vary")?.toLowerCase()).toContain("accept-encoding");
      expect(await res.text()).toBe(BIG);
    }
    const head = await get("/page", "gzip", "HEAD");
    expect(head.headers.get("content-encoding")).toBeNull();
  });

  test("a page under 1 KB is sent as it is", async () => {
    const res = await get("/small", "gzip");
    expect(res.headers.get("content-encoding")).toBeNull();
    expect(await res.text()).toBe("<p>hi</p>");
  });

  test("non-HTML answers (plain text, a live SSE stream) are not touched", async () => {
    const text = await get("/text", "gzip");
    expect(text.headers.get("content-encoding")).toBeNull();
    expect(await text.text()).toBe(BIG);
    const sse = await get("/events", "gzip");
    expect(sse.headers.get("content-type")).toStartWith("text/event-stream");
    expect(sse.headers.get("content-encoding")).toBeNull();
    expect(await sse.text()).toContain(`data: ${BIG.slice(0, 40)}`);
  });
});
