/**
 * Live logs over server-sent events, read from the API as the signed-in user (permission table,
 * audit and the API's own streaming: `docker logs -f` for an env, the job event bus for a job).
 * assets/follow.js appends what arrives. Every stream ends with an `end` event (the browser must
 * not reconnect to a finished log) and a refusal arrives as a `problem` event in the API's words.
 */
import type { Context } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import { keepOpen } from "../../api/conn";
import { ApiError, openApiStream } from "../api-call";
import { asUser, type ConsoleApp, type ConsoleDeps, sessionOf } from "../context";
import { envLogsPage } from "../views/live";
import { LOG_TAIL_CHARS } from "../views/jobs";
import { apiEnv } from "./actions";

/** SSE comments keep proxies and idle timers from closing a quiet stream (as the API's job events do). */
const PING_MS = 15_000;
/** Lines of container output a follow starts with, as `odooops env logs` does by default. */
const ENV_TAIL = 200;

function sse(c: Context, produce: (s: SSEStreamingApi, signal: AbortSignal) => Promise<void>): Response {
  keepOpen(c);
  return streamSSE(c, async (s) => {
    const abort = new AbortController();
    s.onAbort(() => abort.abort());
    const ping = setInterval(() => void s.write(": ping\n\n"), PING_MS);
    try {
      await produce(s, abort.signal);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      await s.writeSSE({ event: "problem", data: e.message });
    } finally {
      clearInterval(ping);
    }
    if (!abort.signal.aborted) await s.writeSSE({ event: "end", data: "" });
  });
}

/** Each chunk of `body` as it arrives; cancelled (which stops the API's producer) when the browser goes. */
async function* chunks(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  const stop = () => void reader.cancel().catch(() => undefined);
  signal.addEventListener("abort", stop);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || signal.aborted) return;
      yield value;
    }
  } finally {
    signal.removeEventListener("abort", stop);
    stop();
  }
}

/** Complete lines only: a line split across chunks is sent once it is whole. */
export function splitLines(carry: string, text: string): { lines: string[]; carry: string } {
  const parts = (carry + text).split("\n");
  return { carry: parts.pop() ?? "", lines: parts };
}

export function liveRoutes(app: ConsoleApp, cd: ConsoleDeps) {
  app.get("/envs/:name/logs", async (c) => {
    const env = await asUser<{ slug: string; name: string }>(cd, c, "GET", apiEnv(c.req.param("name")));
    return c.html(envLogsPage(sessionOf(c), env));
  });

  app.get("/envs/:name/logs/stream", (c) =>
    sse(c, async (s, signal) => {
      const path = `${apiEnv(c.req.param("name"))}/logs?follow=true&tail=${ENV_TAIL}`;
      const body = await openApiStream(cd.api, c, sessionOf(c).bearer, path, signal);
      // A reconnect starts from the tail again: the page drops what it had.
      await s.writeSSE({ event: "reset", data: "" });
      const decoder = new TextDecoder();
      let carry = "";
      for await (const chunk of chunks(body, signal)) {
        const split = splitLines(carry, decoder.decode(chunk, { stream: true }));
        carry = split.carry;
        if (split.lines.length) await s.writeSSE({ event: "lines", data: split.lines.join("\n") });
      }
      if (carry) await s.writeSSE({ event: "lines", data: carry });
    }),
  );

  app.get("/jobs/:id/log-stream", (c) =>
    sse(c, async (s, signal) => {
      const id = encodeURIComponent(c.req.param("id"));
      // Subscribed before the log is read: a line written in between may show twice, never not at all.
      const events = await openApiStream(cd.api, c, sessionOf(c).bearer, `/jobs/${id}/events`, signal);
      const log = await asUser<{ text: string }>(cd, c, "GET", `/jobs/${id}/log`);
      await s.writeSSE({ event: "reset", data: log.text.slice(-LOG_TAIL_CHARS).replace(/\n$/, "") });
      // The API's own events (snapshot, step, log, job) pass through as they are.
      for await (const chunk of chunks(events, signal)) await s.write(chunk);
    }),
  );
}
