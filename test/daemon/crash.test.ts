/**
 * Crash safety with a real daemon process: kill -9 while a step runs, start again, and the
 * job resumes after its last finished step — or fails with the reason when the interrupted
 * step is not safe to repeat. Never stuck "running".
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { resolvePaths } from "../../src/config/paths";
import { JobEvents } from "../../src/jobs/events";
import { JobLogs } from "../../src/jobs/job-log";
import { SqliteJobQueue } from "../../src/jobs/queue";
import type { JobView } from "../../src/jobs/view";
import { openState } from "../../src/state/db";
import { freePort } from "../support/ports";
import { makeTempDir, removeTempDir } from "../support/tmp";

const children: Subprocess[] = [];
const roots: string[] = [];
afterAll(() => {
  for (const c of children) c.kill(9);
  for (const r of roots) removeTempDir(r);
});

async function startChild(root: string, port: number) {
  const child = Bun.spawn(["bun", join(import.meta.dir, "../support/daemon-child.ts"), root, String(port)], {
    stdout: "ignore",
    stderr: "pipe",
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}/api/v1`;
  for (let i = 0; i < 300; i++) {
    if (existsSync(join(root, "run/local-token"))) {
      const ok = await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return { child, url, token: readFileSync(join(root, "run/local-token"), "utf8").trim() };
    }
    await Bun.sleep(50);
  }
  throw new Error(`daemon did not start: ${await new Response(child.stderr).text()}`);
}

async function getJob(url: string, token: string, id: string): Promise<JobView> {
  const res = await fetch(`${url}/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as JobView;
}

function enqueueDirect(root: string, kind: string, key: string): string {
  // The test plays the coordinator's client: the queue is the same SQLite file (WAL) the daemon polls.
  const paths = resolvePaths(root);
  const db = openState(paths.stateDb);
  try {
    const queue = new SqliteJobQueue(db, new JobEvents(), new JobLogs(paths.jobLogsDir));
    const steps = ["one", "two", "three"].map((n) => ({ name: n, title: `Step ${n}` }));
    return queue.enqueue({ kind, params: { key }, lockKey: key, target: key, steps, createdBy: "test", hostId: null })
      .id;
  } finally {
    db.$client.close();
  }
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

const runsOf = (root: string) =>
  existsSync(join(root, "probe-runs")) ? readFileSync(join(root, "probe-runs"), "utf8").trim().split("\n") : [];

describe("daemon crash safety (kill -9)", () => {
  for (const [kind, expectation] of [
    ["crash-probe", "resumes"],
    ["crash-probe-once", "fails"],
  ] as const) {
    test(`${kind}: a job interrupted by kill -9 ${expectation} on restart`, async () => {
      const root = makeTempDir("odooops-crash-");
      roots.push(root);
      const port = await freePort();
      const first = await startChild(root, port);
      const id = enqueueDirect(root, kind, "env-crash");
      await until("step two to run", () => (runsOf(root).includes("run two") ? true : undefined));
      const before = await getJob(first.url, first.token, id);
      expect(before.status).toBe("running");
      expect(before.steps.map((s) => s.status)).toEqual(["done", "running", "pending"]);

      first.child.kill(9);
      await first.child.exited;
      writeFileSync(join(root, "release"), "");

      const second = await startChild(root, port);
      const done = await until("the job to end", async () => {
        const j = await getJob(second.url, second.token, id);
        return j.status === "running" || j.status === "queued" ? undefined : j;
      });
      if (expectation === "resumes") {
        expect(done.status).toBe("succeeded");
        expect(runsOf(root)).toEqual(["run one", "run two", "run two", "run three"]);
        expect(done.steps.map((s) => s.status)).toEqual(["done", "done", "done"]);
      } else {
        expect(done.status).toBe("failed");
        expect(done.error).toContain('interrupted during "Step two"');
        expect(runsOf(root)).toEqual(["run one", "run two", "undo two", "undo one"]);
      }
      const log = await fetch(`${second.url}/jobs/${id}/log?offset=0`, {
        headers: { authorization: `Bearer ${second.token}` },
      }).then((r) => r.json() as Promise<{ text: string }>);
      expect(log.text).toContain("requeued to resume");
      second.child.kill("SIGTERM");
      await second.child.exited;
    });
  }
});
