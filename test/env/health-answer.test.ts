/**
 * A tenant's Odoo controls what its health answer says, and that text reaches operators'
 * terminals (`health check`, `report`, job logs): a real HTTP server answering with terminal
 * escape sequences gets them dropped from the probe's detail.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { oneLine, probeOnce } from "../../src/env/health";

const HOSTILE = "<title>\u001b]0;pwned\u0007\u001b[2J\u001b[31mdown\u009b1m\u200e</title>";
let server: ReturnType<typeof Bun.serve>;

beforeAll(() => {
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(HOSTILE, { status: 503 }) });
});
afterAll(() => server?.stop(true));

describe("health answers from the tenant", () => {
  test("escape sequences in a failed answer never reach the detail", async () => {
    const r = await probeOnce({ url: `http://127.0.0.1:${server.port}`, host: "shop.example.test" });
    expect(r.ok).toBe(false);
    expect(r.detail).toBe("/web/health via Host shop.example.test: HTTP 503 down");
    expect(/[\p{Cc}\p{Cf}]/u.test(r.detail)).toBe(false);
  });

  test("whitespace still folds to one line; plain text is kept", () => {
    expect(oneLine("Service\n\tUnavailable ")).toBe("Service Unavailable");
    expect(oneLine("<html><title>502 Bad Gateway</title></html>")).toBe("502 Bad Gateway");
  });
});
