/** The API's request counters and latency buckets: exact counts through `app.request` and the recorder. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LATENCY_BUCKETS, RequestStats } from "../../src/metrics/http";
import { makeTestApi } from "../support/api";

let t: Awaited<ReturnType<typeof makeTestApi>>;
beforeAll(async () => {
  t = await makeTestApi();
});
afterAll(() => t.cleanup());

describe("API request metrics", () => {
  test("the recorder: cumulative buckets, unknown methods as other", () => {
    const s = new RequestStats();
    s.record("GET", 200, 0.003);
    s.record("GET", 200, 0.2);
    s.record("BREW", 418, 30);
    expect([...s.requests]).toEqual([
      ["GET 200", 2],
      ["other 418", 1],
    ]);
    const le = (v: number) => s.buckets[LATENCY_BUCKETS.indexOf(v as (typeof LATENCY_BUCKETS)[number])];
    expect([le(0.005), le(0.1), le(0.25), le(10), s.buckets[LATENCY_BUCKETS.length]]).toEqual([1, 1, 2, 2, 3]);
    expect(s.sumSeconds).toBeCloseTo(30.203, 6);
  });

  test("requests answered (refused ones too) show on the next scrape", async () => {
    expect((await t.request("/api/v1/environments", { token: null })).status).toBe(401);
    expect((await t.request("/api/v1/no-such-route")).status).toBe(404);
    await t.request("/api/v1/metrics");
    const text = await (await t.request("/api/v1/metrics")).text();
    expect(text).toContain('odooops_http_requests_total{method="GET",code="401"} 1');
    expect(text).toContain('odooops_http_requests_total{method="GET",code="404"} 1');
    expect(text).toContain('odooops_http_requests_total{method="GET",code="200"} 1');
    expect(text).toContain('odooops_http_request_duration_seconds_bucket{le="+Inf"} 3');
    expect(text).toContain("odooops_http_request_duration_seconds_count 3");
  });
});
