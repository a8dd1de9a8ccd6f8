/**
 * The coordinator's relay of a clone's files without S3 (src/fleet/transfer-relay.ts), pure:
 * one-time tickets (single use, short-lived, bound to one host; a forged, replayed, expired or
 * borrowed ticket refused with 403/410), the pipe that holds at most the chunk in flight
 * however slow the reader (the bound on the coordinator's memory), and the pairing of a
 * download with its source host's upload (no other host can feed it).
 */
import { describe, expect, test } from "bun:test";
import { Forbidden } from "../../src/errors";
import { boundedPipe, FileRelay, FileRequest, Gone, TicketBook } from "../../src/fleet/transfer-relay";

const grant = { hostId: "h-target", jobId: "job-1", file: "db.dump" as const };

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("did not throw");
};

describe("tickets", () => {
  test("a ticket grants its file once, to its host", () => {
    const book = new TicketBook();
    const t = book.issue(grant);
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(book.issue(grant)).not.toBe(t);
    expect(book.redeem(t, "h-target")).toEqual(grant);
    const again = thrown(() => book.redeem(t, "h-target"));
    expect(again).toBeInstanceOf(Gone);
    expect((again as Gone).status).toBe(410);
    expect((again as Gone).message).toBe("this transfer ticket was already used");
  });

  test("forged: 403", () => {
    const book = new TicketBook();
    book.issue(grant);
    const e = thrown(() => book.redeem("x".repeat(43), "h-target"));
    expect(e).toBeInstanceOf(Forbidden);
    expect((e as Forbidden).message).toBe("unknown transfer ticket");
  });

  test("presented by another host: 403, and void for its own host too (it leaked)", () => {
    const book = new TicketBook();
    const t = book.issue(grant);
    const e = thrown(() => book.redeem(t, "h-other"));
    expect(e).toBeInstanceOf(Forbidden);
    expect((e as Forbidden).message).toContain("issued to another host");
    expect(thrown(() => book.redeem(t, "h-target"))).toBeInstanceOf(Gone);
  });

  test("expired: 410; expired tickets are forgotten when the next one is issued", () => {
    let now = 1_000;
    const book = new TicketBook(60_000, () => now);
    const t = book.issue(grant);
    const fresh = book.issue(grant);
    now += 59_999;
    expect(book.redeem(fresh, "h-target")).toEqual(grant);
    now += 1;
    const e = thrown(() => book.redeem(t, "h-target"));
    expect(e).toBeInstanceOf(Gone);
    expect((e as Gone).message).toBe("this transfer ticket expired");
    expect(book.size).toBe(2);
    book.issue(grant);
    expect(book.size).toBe(1);
  });
});

/** A source of `n` chunks of `size` bytes that counts how many were pulled from it. */
function countingSource(n: number, size: number) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(ctl) {
        if (state.pulled === n) return ctl.close();
        ctl.enqueue(new Uint8Array(size).fill(state.pulled % 251));
        state.pulled++;
      },
      cancel() {
        state.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

/** Lets every pending promise and queued task run, so a pipe that reads ahead would have. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Bun.sleep(0);
};

describe("the pipe", () => {
  test("reads from the source only as the reader reads: one chunk in flight at most", async () => {
    const src = countingSource(1_000, 64 * 1024);
    const pipe = boundedPipe(src.stream);
    await settle();
    // Nobody reads yet: nothing pulled, however long it waits.
    expect(src.state.pulled).toBe(0);
    const reader = pipe.stream.getReader();
    let got = 0;
    for (let i = 0; i < 10; i++) {
      const r = await reader.read();
      got += r.value?.byteLength ?? 0;
      await settle();
      expect(src.state.pulled - (i + 1)).toBeLessThanOrEqual(1);
    }
    expect(got).toBe(10 * 64 * 1024);
    // The rest, to the end: all of it, in order, and `done` resolves.
    let rest = 0;
    let i = 10;
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      expect(r.value[0]).toBe(i % 251);
      rest += r.value.byteLength;
      i++;
    }
    expect(rest).toBe(990 * 64 * 1024);
    await pipe.done;
  });

  test("a reader that goes away cancels the source; done rejects", async () => {
    const src = countingSource(100, 16);
    const pipe = boundedPipe(src.stream);
    const reader = pipe.stream.getReader();
    await reader.read();
    await reader.cancel("gone");
    expect(src.state.cancelled).toBe(true);
    await expect(pipe.done).rejects.toThrow("the reader went away");
  });
});

const file = { from: "pack" as const, slug: "prod", transferId: "t-1", file: "filestore.tar" as const };

describe("the relay", () => {
  test("the source host takes the request from its lease; its upload is the download", async () => {
    const relay = new FileRelay();
    const download = relay.request("h-source", file);
    expect(relay.take("h-target")).toBeNull();
    const req = relay.take("h-source");
    expect(FileRequest.parse(req)).toEqual({ transfer: { ...file, id: req!.transfer.id } });
    expect(relay.take("h-source")).toBeNull();
    // Another host cannot feed it, nor learn it exists.
    expect(relay.upload("h-other", req!.transfer.id, new Blob(["forged"]).stream())).toBe(false);
    const sent = relay.upload("h-source", req!.transfer.id, new Blob(["the pack"]).stream());
    expect(sent).not.toBe(false);
    expect(await new Response(await download).text()).toBe("the pack");
    await sent;
    expect(relay.size).toBe(0);
    // Once delivered, a second upload for it is refused.
    expect(relay.upload("h-source", req!.transfer.id, new Blob(["again"]).stream())).toBe(false);
  });

  test("a request wakes its host's long-poll; a refusal or no pickup fails the download with the reason", async () => {
    const relay = new FileRelay(50);
    let woken = 0;
    const off = relay.onRequested("h-source", () => woken++);
    const refused = relay.request("h-source", file);
    expect(woken).toBe(1);
    off();
    const id = relay.take("h-source")!.transfer.id;
    expect(relay.refuse("h-other", id, "no")).toBe(false);
    expect(relay.refuse("h-source", id, "the source's host has no filestore.tar")).toBe(true);
    await expect(refused).rejects.toThrow("the source's host has no filestore.tar");
    const unanswered = relay.request("h-source", file);
    await expect(unanswered).rejects.toThrow("the source's host did not start sending filestore.tar within 0.05 s");
    // Its request is withdrawn too: the host will not serve a download nobody waits for.
    expect(relay.take("h-source")).toBeNull();
    expect(relay.size).toBe(0);
  });

  test("a request for anything but a pack's file is refused before it is queued", () => {
    const relay = new FileRelay();
    expect(() => relay.request("h-source", { ...file, file: "../../etc/shadow" as "db.dump" })).toThrow();
    expect(() => relay.request("h-source", { ...file, slug: "../x" })).toThrow();
    expect(relay.take("h-source")).toBeNull();
  });
});
