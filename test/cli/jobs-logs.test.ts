/**
 * `jobs logs ID` prints the whole log, however many 256 KiB pages the server answers in (a real
 * Odoo test run writes 630 KB): with and without -f.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { makeTestApi } from "../support/api";
import { runCliWith } from "../support/cli";
import { probeJob } from "../support/jobs";

const probe = probeJob([]);
let t: Awaited<ReturnType<typeof makeTestApi>>;
let jobId = "";
const fetchApi = (url: string, init?: RequestInit) => t.fetch(url, init);
const env = () => ({
  ODOOOPS_URL: "http://odooops.test",
  ODOOOPS_TOKEN: t.token,
  XDG_CONFIG_HOME: `${t.root}/cli-home`,
});

beforeAll(async () => {
  t = await makeTestApi({ extraJobs: [probe] });
  jobId = t.deps.jobs.enqueue(probe, { key: "env-logs" }, "admin").id;
  // 700 KB in lines of different lengths, with multi-byte characters across the page boundaries.
  const lines = Array.from(
    { length: 9000 },
    (_, i) =>
      `${String(i).padStart(5, "0")} INFO odoo.addons.shop.tests: Starting TestÉté.test_${i} ${"x".repeat(i % 97)}`,
  );
  t.deps.jobs.logs.append(jobId, lines);
});
afterAll(() => t.cleanup());

describe("jobs logs", () => {
  test("without -f: the whole log of a running job, not only the first page", async () => {
    const whole = readFileSync(t.deps.jobs.logs.file(jobId), "utf8");
    expect(whole.length).toBeGreaterThan(600_000);
    const r = await runCliWith(["jobs", "logs", jobId], { fetch: fetchApi, env: env() });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(whole);
  });

  test("with -f on a finished job: the whole log, then it stops", async () => {
    expect((await t.request(`/api/v1/jobs/${jobId}/cancel`, { method: "POST" })).status).toBe(200);
    const whole = readFileSync(t.deps.jobs.logs.file(jobId), "utf8");
    const r = await runCliWith(["jobs", "logs", jobId, "-f"], { fetch: fetchApi, env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(whole);
  });

  test("an unknown job: a clear error, nothing printed", async () => {
    const r = await runCliWith(["jobs", "logs", "no-such-job"], { fetch: fetchApi, env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("no job no-such-job");
  });
});
