/**
 * `log.format: json` in the config: a real daemon process writes one JSON object per line on
 * stderr, each with `service` and `host`, and a job's lines with `job`, `kind` and `env` — what
 * a Loki pipeline needs to follow one env or one job across a fleet. Text stays the default.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ConfigSchema } from "../../src/config/schema";
import { resolvePaths } from "../../src/config/paths";
import { JobEvents } from "../../src/jobs/events";
import { JobLogs } from "../../src/jobs/job-log";
import { SqliteJobQueue } from "../../src/jobs/queue";
import { openState } from "../../src/state/db";
import { freePort } from "../support/ports";
import { makeTempDir, removeTempDir } from "../support/tmp";

let child: Subprocess<"ignore", "ignore", "pipe"> | null = null;
let root = "";
afterAll(() => {
  child?.kill(9);
  if (root) removeTempDir(root);
});

describe("log.format json", () => {
  test("the config refuses an unknown format with its path; text is the default", () => {
    expect(ConfigSchema.parse({}).log).toEqual({ level: "info", format: "text" });
    expect(() => ConfigSchema.parse({ log: { format: "yaml" } })).toThrow(/format/);
  });

  test("a daemon's lines are JSON with service and host; a job's lines carry job, kind and env", async () => {
    root = makeTempDir("odooops-logjson-");
    const paths = resolvePaths(root);
    mkdirSync(paths.configDir, { recursive: true });
    writeFileSync(paths.configYaml, "log:\n  format: json\n");
    const port = await freePort();
    const proc = Bun.spawn(["bun", join(import.meta.dir, "../support/daemon-child.ts"), root, String(port)], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    child = proc;
    let err = "";
    const reader = (async () => {
      for await (const chunk of proc.stderr) err += new TextDecoder().decode(chunk);
    })();
    // The job runner may start before the API listens (the console loads in between): wait for
    // "listening" so that line is there before the job's lines and the stop.
    for (let i = 0; i < 300 && !err.includes('"msg":"listening"'); i++) await Bun.sleep(50);
    writeFileSync(join(root, "release"), "");
    const db = openState(paths.stateDb);
    try {
      const queue = new SqliteJobQueue(db, new JobEvents(), new JobLogs(paths.jobLogsDir));
      const steps = ["one", "two", "three"].map((n) => ({ name: n, title: `Step ${n}` }));
      const id = queue.enqueue({
        kind: "crash-probe",
        params: { key: "shop" },
        lockKey: "shop",
        target: "shop",
        steps,
        createdBy: "test",
        hostId: null,
      }).id;
      for (let i = 0; i < 400 && !err.includes('"msg":"job ended"'); i++) await Bun.sleep(50);
      proc.kill(15);
      await proc.exited;
      await reader;
      const lines = err.trim().split("\n");
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(parsed.length).toBeGreaterThan(2);
      for (const p of parsed) expect(p).toMatchObject({ host: hostname(), service: expect.any(String) });
      expect(parsed.find((p) => p.msg === "listening")).toMatchObject({ service: "daemon" });
      expect(parsed.find((p) => p.msg === "job started")).toMatchObject({
        job: id,
        kind: "crash-probe",
        env: "shop",
        attempt: 1,
      });
      expect(parsed.find((p) => p.msg === "job ended")).toMatchObject({ job: id, env: "shop" });
      expect(readFileSync(join(root, "probe-runs"), "utf8")).toContain("run three");
    } finally {
      db.$client.close();
    }
  }, 60_000);
});
