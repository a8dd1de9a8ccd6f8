/**
 * Container logs of an env on an agent, read through the coordinator. The coordinator never
 * opens a connection to an agent (issue #16), so a reader's request waits here until the agent's
 * own lease long-poll takes it (a "stream" lease, src/api/routes/agent.ts); the agent then posts
 * the output up in chunks, which are relayed to the reader. A chunk for a reader that went away
 * is answered "closed" and the agent stops `docker logs`. In memory only: a log stream does not
 * outlive the coordinator's process, and nothing of it is state.
 */
import { z } from "zod";
import { HostRequests } from "./host-requests";

/** What the agent is asked to stream: `docker logs` of one of its containers. */
export const StreamRequest = z
  .object({
    id: z.string().min(1).max(64),
    // A container name as odooops makes them (prefix-slug-rN): never a flag, never a path.
    container: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/),
    tail: z.number().int().min(0).max(100_000),
    follow: z.boolean(),
  })
  .strict();
export type StreamRequest = z.infer<typeof StreamRequest>;

export const StreamChunk = z
  .object({
    text: z.string().max(1024 * 1024),
    end: z.boolean().default(false),
    error: z.string().max(4096).optional(),
  })
  .strict();

/** How long a request waits for its agent to take it before the reader is told so. */
export const PICKUP_MS = 30_000;
/** The agent posts at least this often while following (empty when there is nothing new). */
export const KEEPALIVE_MS = 5_000;
/** A taken stream with no chunk for this long is over: the agent went away. */
export const SILENCE_MS = 4 * KEEPALIVE_MS;

/** Where a session's text goes, and how it ends (`error` becomes the last line the reader sees). */
export interface StreamSink {
  write(text: string): void;
  close(error?: string): void;
}

interface Session {
  hostId: string;
  request: StreamRequest;
  sink: StreamSink;
  timer: ReturnType<typeof setTimeout>;
}

export class LogRelay {
  private readonly requests = new HostRequests<StreamRequest>();
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly pickupMs = PICKUP_MS,
    private readonly silenceMs = SILENCE_MS,
  ) {}

  /** Asks host `hostId` for a container's log; returns the function that ends it from the reader's side. */
  open(hostId: string, req: Omit<StreamRequest, "id">, sink: StreamSink): () => void {
    const request = StreamRequest.parse({ ...req, id: Bun.randomUUIDv7() });
    const session: Session = {
      hostId,
      request,
      sink,
      timer: setTimeout(
        () => this.close(request.id, `the host did not pick up the log request within ${this.pickupMs / 1000} s`),
        this.pickupMs,
      ),
    };
    this.sessions.set(request.id, session);
    this.requests.push(hostId, request);
    return () => this.close(request.id);
  }

  /**
   * Streams the log into `out` until the agent ends it or the reader goes away (`out.onAbort`);
   * a reason the stream ended early becomes its last line, marked as odooops's own.
   */
  read(
    hostId: string,
    req: Omit<StreamRequest, "id">,
    out: { write(text: string): unknown; onAbort(fn: () => void): void },
  ): Promise<void> {
    return new Promise((resolve) => {
      const stop = this.open(hostId, req, {
        write: (text) => void out.write(text),
        close: (error) => {
          if (error) void out.write(`[odooops] ${error}\n`);
          resolve();
        },
      });
      out.onAbort(stop);
    });
  }

  /** The next request for this host, taken by its lease long-poll; null when none waits. */
  take(hostId: string): StreamRequest | null {
    const request = this.requests.take(hostId);
    // Taken: from now on the agent's silence, not the pickup, ends the session.
    if (request) this.arm(request.id);
    return request;
  }

  /** Wakes a lease long-poll of `hostId` when a request arrives for it; returns the unsubscribe. */
  onRequested(hostId: string, wake: () => void): () => void {
    return this.requests.onRequested(hostId, wake);
  }

  /**
   * Text from the agent; false when the stream is over for it (the reader went away, or the
   * stream is not this host's: another agent cannot write into it, nor learn that it exists).
   */
  push(hostId: string, id: string, chunk: z.infer<typeof StreamChunk>): boolean {
    const session = this.sessions.get(id);
    if (!session || session.hostId !== hostId) return false;
    if (chunk.text) session.sink.write(chunk.text);
    if (chunk.end) {
      this.close(id, chunk.error);
      return false;
    }
    this.arm(id);
    return true;
  }

  /** Readers waiting or streaming (tests, metrics). */
  get size(): number {
    return this.sessions.size;
  }

  private arm(id: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    clearTimeout(session.timer);
    session.timer = setTimeout(() => this.close(id, "the host stopped sending the log"), this.silenceMs);
  }

  private close(id: string, error?: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    clearTimeout(session.timer);
    this.requests.remove(session.hostId, (r) => r.id === id);
    session.sink.close(error);
  }
}
