/**
 * The agent's half of a log stream (src/fleet/log-relay.ts): runs `docker logs` of the asked
 * container on this host and posts the output to the coordinator in chunks, in order, at most a
 * quarter-second apart, with an empty chunk every few seconds while following so the
 * coordinator knows the agent is still there. Stops as soon as the coordinator answers that the
 * reader went away.
 */
import type { Deps } from "../deps";
import { envHost } from "../env/host";
import { errorText } from "../errors";
import { run } from "../exec/run";
import type { AgentTransport } from "../jobs/http-channel";
import { Log } from "../log";
import { KEEPALIVE_MS, StreamRequest } from "./log-relay";

const log = Log.create("agent");

const FLUSH_MS = 250;
/** Below the coordinator's 1 MiB chunk limit, with room for multi-byte text. */
const MAX_CHUNK_CHARS = 256 * 1024;

export async function serveLogStream(
  transport: AgentTransport,
  deps: Pick<Deps, "config" | "paths">,
  raw: unknown,
  /** The agent stopping: the stream ends like any other (its reader is told). */
  stopping: AbortSignal,
): Promise<void> {
  const parsed = StreamRequest.safeParse(raw);
  if (!parsed.success) {
    log.warn("ignored a malformed log stream request", { error: parsed.error.message });
    return;
  }
  const req = parsed.data;
  const abort = new AbortController();
  stopping.addEventListener("abort", () => abort.abort(), { once: true });
  let buffer = "";
  let lastPost = Date.now();
  let sending: Promise<void> = Promise.resolve();
  const post = (text: string, end: boolean, error?: string) => {
    lastPost = Date.now();
    sending = sending.then(async () => {
      if (abort.signal.aborted && !end) return;
      try {
        const r = await transport.post<{ open: boolean }>(`/streams/${encodeURIComponent(req.id)}`, {
          text,
          end,
          ...(error && { error }),
        });
        if (!r.open) abort.abort();
      } catch (e) {
        // The coordinator is unreachable: nobody reads this stream any more.
        log.warn("log stream to the coordinator failed", { error: errorText(e) });
        abort.abort();
      }
    });
  };
  const flush = () => {
    while (buffer.length > 0) {
      post(buffer.slice(0, MAX_CHUNK_CHARS), false);
      buffer = buffer.slice(MAX_CHUNK_CHARS);
    }
  };
  const timer = setInterval(() => {
    if (buffer.length > 0) flush();
    else if (Date.now() - lastPost >= KEEPALIVE_MS) post("", false);
  }, FLUSH_MS);
  let error: string | undefined;
  try {
    const r = await run(envHost(deps).docker.logs(req.container, { tail: req.tail, follow: req.follow }), {
      onLine: (_src, line) => {
        buffer += `${line}\n`;
      },
      signal: abort.signal,
      nothrow: true,
      discardOutput: true,
    });
    if (stopping.aborted) error = "the agent is stopping";
    else if (r.exitCode !== 0 && !abort.signal.aborted) error = `docker logs exited with ${r.exitCode}`;
  } catch (e) {
    error = errorText(e);
  } finally {
    clearInterval(timer);
  }
  flush();
  post("", true, error);
  await sending;
}
