import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Agent } from "../../src/jobs/agent";
import type { JobStreamEvent, JobView } from "../../src/jobs/view";
import { makeTestApi } from "../support/api";
import { probeJob } from "../support/jobs";

const record: string[] = [];
const probe = probeJob(record);
let api: Awaited<ReturnType<typeof makeTestApi>>;
let agent: Agent | null = null;

beforeAll(async () => {
  api = await makeTestApi({ extraJobs: [probe] });
});
afterAll(async () => {
  await agent?.stop(1000);
  api.cleanup();
});

/** Reads SSE frames; `onFirst` runs once the first frame (the snapshot) arrived. */
async function sseEvents(res: Response, onFirst: () => void): Promise<JobStreamEvent[]> {
  const events: JobStreamEvent[] = [];
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of res.body!) {
    buf += decoder.decode(chunk, { stream: true });
    let i = buf.indexOf("\n\n");
    while (i >= 0) {
      const data = buf
        .slice(0, i)
        .split("\n")
        .find((l) => l.startsWith("data:"));
      buf = buf.slice(i + 2);
      if (data) events.push(JSON.parse(data.slice(5)) as JobStreamEvent);
      if (events.length === 1 && data) onFirst();
      i = buf.indexOf("\n\n");
    }
  }
  return events;
}

describe("jobs API", () => {
  let jobId = "";

  test("GET /jobs lists, GET /jobs/:id shows steps; unknown ids are 404 in the error shape", async () => {
    jobId = api.deps.jobs.enqueue(probe, { key: "env-a" }, "admin").id;
    const list = (await (await api.request("/api/v1/jobs?limit=5")).json()) as JobView[];
    expect(list.map((j) => j.id)).toEqual([jobId]);
    const one = (await (await api.request(`/api/v1/jobs/${jobId}`)).json()) as JobView;
    expect(one.steps.map((s) => s.title)).toEqual(["Step one", "Step two", "Step three"]);
    const missing = await api.request("/api/v1/jobs/nope");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: "not_found", message: "no job nope" } });
    expect((await api.request("/api/v1/jobs?limit=0")).status).toBe(400);
    expect((await api.request("/api/v1/jobs?status=bogus")).status).toBe(400);
  });

  test("GET /jobs/:id/events streams a snapshot, steps and the end", async () => {
    const res = await api.request(`/api/v1/jobs/${jobId}/events`);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    agent = new Agent({
      identity: { hostId: "h", owner: "h:a" },
      channel: api.deps.jobs.queue,
      registry: api.deps.jobs.registry,
      deps: { db: api.deps.db, config: api.deps.config, paths: api.deps.paths, box: api.deps.box },
      pollMs: 20,
    });
    const events = await sseEvents(res, () => agent!.start());
    expect(events[0]!.type).toBe("snapshot");
    expect(events.at(-1)).toEqual({ type: "job", status: "succeeded", error: null });
    expect(events.filter((e) => e.type === "step").length).toBeGreaterThanOrEqual(6);
  });

  test("GET /jobs/:id/log pages by byte offset", async () => {
    const first = (await (await api.request(`/api/v1/jobs/${jobId}/log?offset=0`)).json()) as {
      text: string;
      nextOffset: number;
      status: string;
    };
    expect(first.status).toBe("succeeded");
    expect(first.text).toContain("✓ Step three");
    const rest = (await (await api.request(`/api/v1/jobs/${jobId}/log?offset=${first.nextOffset}`)).json()) as {
      text: string;
    };
    expect(rest.text).toBe("");
  });

  test("POST /jobs/:id/cancel on a finished job leaves it as it was", async () => {
    const res = await api.request(`/api/v1/jobs/${jobId}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as JobView).status).toBe("succeeded");
  });
});
