/**
 * Files of a clone across hosts, relayed through the coordinator when there is no shared S3
 * target. Agents serve no API and do not trust each other, and the coordinator opens no
 * connection to an agent (issue #16): the target's host asks the coordinator for a file with a
 * one-time ticket, the coordinator asks the source's host for it through its lease long-poll
 * (as the log relay does, log-relay.ts), and the source's upload is piped into the target's
 * download one chunk at a time — never written to the coordinator's disk, never buffered beyond
 * the chunk in flight. In memory only: a relay does not outlive the coordinator's process (the
 * restore then fails and the chain cleans up).
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { AppError, Forbidden, Unavailable } from "../errors";
import { MANIFEST_FILE, PART_FILES } from "../db/backup/layout";
import { RelaySource } from "../db/transfer";
import { HostRequests } from "./host-requests";

/** A spent or expired ticket: HTTP 410, as distinct from a forged one (403). */
export class Gone extends AppError {
  override readonly code = "gone";
  override readonly status = 410;
  override readonly exitCode = 3;
}

/** The only files a transfer holds: a backup's (db/backup/layout.ts). Never a path. */
export const TRANSFER_FILES = [MANIFEST_FILE, PART_FILES.db, PART_FILES.filestore] as const;
export const TransferFile = z.enum(TRANSFER_FILES);
export type TransferFile = z.infer<typeof TransferFile>;

const ID = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/);

/** What the source's host is asked, in its lease's answer: upload this file of that transfer. */
export const FileRequest = z
  .object({
    transfer: z
      .object({
        id: z.string().min(1).max(64),
        from: RelaySource,
        slug: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/),
        transferId: ID,
        file: TransferFile,
      })
      .strict(),
  })
  .strict();
export type FileRequest = z.infer<typeof FileRequest>;

/** Short: the target asks for a ticket right before it downloads. */
export const TICKET_TTL_MS = 60_000;
/** How long a download waits for the source's host to take the request and start uploading. */
export const UPLOAD_PICKUP_MS = 30_000;

/** What one ticket lets one host download: one file for one running restore job. */
export interface Grant {
  hostId: string;
  jobId: string;
  file: TransferFile;
}

interface Ticket extends Grant {
  expiresAt: number;
  used: boolean;
}

/**
 * One-time tickets: random, single use, short-lived, bound to the host that asked for it. A
 * spent ticket is kept until it would have expired, so a replay is told "spent" (410), not
 * "unknown" (403); one presented by another host is burnt, since it leaked.
 */
export class TicketBook {
  private readonly tickets = new Map<string, Ticket>();

  constructor(
    private readonly ttlMs = TICKET_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  issue(grant: Grant): string {
    this.prune();
    const ticket = randomBytes(32).toString("base64url");
    this.tickets.set(ticket, { ...grant, expiresAt: this.now() + this.ttlMs, used: false });
    return ticket;
  }

  /** The grant, spent; throws Forbidden (unknown ticket, another host's) or Gone (used, expired). */
  redeem(ticket: string, hostId: string): Grant {
    const t = this.tickets.get(ticket);
    if (!t) throw new Forbidden("unknown transfer ticket");
    if (t.hostId !== hostId) {
      t.used = true;
      throw new Forbidden("this transfer ticket was issued to another host; it is void now");
    }
    if (t.used) throw new Gone("this transfer ticket was already used");
    t.used = true;
    if (t.expiresAt <= this.now()) throw new Gone("this transfer ticket expired");
    return { hostId: t.hostId, jobId: t.jobId, file: t.file };
  }

  /** Tickets held (tests). */
  get size(): number {
    return this.tickets.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [k, t] of this.tickets) if (t.expiresAt <= now) this.tickets.delete(k);
  }
}

/**
 * `source` re-read one chunk per read of the result: a pull stream with no queue of its own
 * (highWaterMark 0), so a slow reader holds the writer back (the upload's TCP window fills)
 * instead of the coordinator's memory filling. `done` settles when the reader finished or
 * went away (the source is then cancelled).
 */
export function boundedPipe(source: ReadableStream<Uint8Array>): {
  stream: ReadableStream<Uint8Array>;
  done: Promise<void>;
} {
  const reader = source.getReader();
  const { promise: done, resolve, reject } = Promise.withResolvers<void>();
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        try {
          const r = await reader.read();
          if (r.done) {
            ctl.close();
            resolve();
          } else ctl.enqueue(r.value);
        } catch (e) {
          ctl.error(e);
          reject(e);
        }
      },
      async cancel(reason) {
        await reader.cancel(reason).catch(() => undefined);
        reject(new Error("the reader went away"));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, done };
}

interface Waiting {
  hostId: string;
  request: FileRequest;
  deliver(stream: ReadableStream<Uint8Array>): Promise<void>;
  fail(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Downloads waiting for their source's upload, and the requests the source hosts have not taken yet. */
export class FileRelay {
  private readonly requests = new HostRequests<FileRequest>();
  private readonly waiting = new Map<string, Waiting>();

  constructor(private readonly pickupMs = UPLOAD_PICKUP_MS) {}

  /** Asks `hostId` for a file; the stream of its upload once it starts, piped with backpressure. */
  request(hostId: string, file: Omit<FileRequest["transfer"], "id">): Promise<ReadableStream<Uint8Array>> {
    const request = FileRequest.parse({ transfer: { ...file, id: Bun.randomUUIDv7() } });
    const id = request.transfer.id;
    return new Promise((resolve, reject) => {
      const w: Waiting = {
        hostId,
        request,
        deliver: (upload) => {
          const pipe = boundedPipe(upload);
          resolve(pipe.stream);
          return pipe.done;
        },
        fail: reject,
        timer: setTimeout(
          () =>
            this.drop(
              id,
              new Unavailable(`the source's host did not start sending ${file.file} within ${this.pickupMs / 1000} s`),
            ),
          this.pickupMs,
        ),
      };
      this.waiting.set(id, w);
      this.requests.push(hostId, request);
    });
  }

  /** The next request for this host, taken by its lease long-poll; null when none waits. */
  take(hostId: string): FileRequest | null {
    return this.requests.take(hostId);
  }

  /** Wakes a lease long-poll of `hostId` when a request arrives for it; returns the unsubscribe. */
  onRequested(hostId: string, wake: () => void): () => void {
    return this.requests.onRequested(hostId, wake);
  }

  /**
   * The source's upload for request `id`: settles when the download read it all (or went away).
   * False when nobody waits for it from this host (another host cannot feed a download).
   */
  upload(hostId: string, id: string, body: ReadableStream<Uint8Array>): Promise<void> | false {
    const w = this.waiting.get(id);
    if (!w || w.hostId !== hostId) return false;
    clearTimeout(w.timer);
    this.waiting.delete(id);
    return w.deliver(body);
  }

  /** The source's host could not send the file: the download fails with its reason. */
  refuse(hostId: string, id: string, error: string): boolean {
    const w = this.waiting.get(id);
    if (!w || w.hostId !== hostId) return false;
    this.drop(id, new Unavailable(error));
    return true;
  }

  /** Downloads waiting for an upload (tests). */
  get size(): number {
    return this.waiting.size;
  }

  private drop(id: string, error: Error): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    this.requests.remove(w.hostId, (r) => r.transfer.id === id);
    w.fail(error);
  }
}

/** The agent API's bodies (src/api/routes/agent.ts). */
export const TicketRequest = z.object({ jobId: z.string().min(1).max(64), file: TransferFile }).strict();
export const FetchRequest = z.object({ ticket: z.string().min(1).max(128) }).strict();
export const RefuseRequest = z.object({ error: z.string().max(4096) }).strict();
