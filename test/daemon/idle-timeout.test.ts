/**
 * M2: the real daemon closes a connection that sends nothing after api.idleTimeoutSec, while a
 * streaming route (job events over SSE) stays open across several such timeouts and still delivers.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { startDaemon } from "../../src/daemon/serve";
import type { JobStreamEvent } from "../../src/jobs/view";
import { probeJob } from "../support/jobs";
import { freePort } from "../support/ports";
import { makeTempDir, removeTempDir } from "../support/tmp";

const IDLE_SEC = 2;
const holds = new Map<string, Promise<void>>();
let release: () => void = () => {};
holds.set("held", new Promise<void>((r) => (release = r)));
const probe = probeJob([], holds);

let root = "";
let daemon: Awaited<ReturnType<typeof startDaemon>> | null = null;
beforeAll(async () => {
  root = makeTempDir("odooops-idle-");
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc", "config.yaml"), `api:\n  idleTimeoutSec: ${IDLE_SEC}\n`);
  daemon = await startDaemon({
    root,
    listen: `127.0.0.1:${await freePort()}`,
    env: { ODOOOPS_ADMIN_PASSWORD: "idle-test-password" },
    extraJobs: [probe],
  });
});
afterAll(async () => {
  release();
  await daemon?.stop();
  removeTempDir(root);
});

/**
 * A request that stalls: headers promise a body, a few bytes of it arrive, then nothing (a slow or
 * malicious client holding a handler). Resolves when the server closes it, or "open" after `boundMs`.
 */
function stalledRequest(port: number, boundMs: number): Promise<"closed" | "open"> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(
        'POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"username":',
      );
    });
    const bound = setTimeout(() => {
      socket.destroy();
      resolve("open");
    }, boundMs);
    socket.on("close", () => {
      clearTimeout(bound);
      resolve("closed");
    });
    socket.on("error", () => undefined);
  });
}

test("a stalled connection is closed after the idle timeout; a quiet job-events stream stays open and delivers the end", async () => {
  const d = daemon!;
  const port = d.port!;
  const token = readFileSync(d.paths.localTokenFile, "utf8").trim();
  const job = d.deps.jobs.enqueue(probe, { key: "held", holdAt: "one" }, "admin");

  const res = await fetch(`${d.url}/api/v1/jobs/${job.id}/events`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  const events: JobStreamEvent[] = [];
  const readUntil = async (done: (evs: JobStreamEvent[]) => boolean) => {
    while (!done(events)) {
      const chunk = await reader.read();
      if (chunk.done) return "ended";
      buf += decoder.decode(chunk.value, { stream: true });
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        const data = buf
          .slice(0, i)
          .split("\n")
          .find((l) => l.startsWith("data:"));
        buf = buf.slice(i + 2);
        if (data) events.push(JSON.parse(data.slice(5)) as JobStreamEvent);
      }
    }
    return "seen";
  };
  expect(await readUntil((evs) => evs.some((e) => e.type === "snapshot"))).toBe("seen");

  // Two stalled connections in a row, each closed by the server: the quiet stream has outlived two timeouts.
  const bound = IDLE_SEC * 1000 * 10;
  expect(await stalledRequest(port, bound)).toBe("closed");
  expect(await stalledRequest(port, bound)).toBe("closed");

  release();
  expect(await readUntil((evs) => evs.some((e) => e.type === "job" && e.status === "succeeded"))).toBe("seen");
  await reader.cancel();
});
