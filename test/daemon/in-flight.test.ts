import { expect, test } from "bun:test";
import { InFlight } from "../../src/daemon/in-flight";

test("drain() aborts the signal and resolves once every answer is there, failed ones too", async () => {
  const inFlight = new InFlight();
  let release = () => {};
  const slow = inFlight.wrap(async (_req: Request) => {
    // A long poll: it ends when the drain begins.
    await new Promise<void>((r) => {
      release = r;
      if (inFlight.signal.aborted) r();
      inFlight.signal.addEventListener("abort", () => r());
    });
    return new Response("late");
  });
  const failing = inFlight.wrap((_req: Request): Response => {
    throw new Error("boom");
  });
  const answer = slow(new Request("http://x/"));
  const failed = failing(new Request("http://x/")).catch((e: Error) => e.message);
  expect(inFlight.signal.aborted).toBe(false);
  await inFlight.drain();
  expect(inFlight.signal.aborted).toBe(true);
  expect(await (await answer).text()).toBe("late");
  expect(await failed).toBe("boom");
  release();
});

test("drain() waits for a handler that does not watch the signal", async () => {
  const inFlight = new InFlight();
  let release = () => {};
  const handler = inFlight.wrap(async (_req: Request) => {
    await new Promise<void>((r) => (release = r));
    return new Response("done");
  });
  void handler(new Request("http://x/"));
  let drained = false;
  const draining = inFlight.drain().then(() => {
    drained = true;
  });
  await Bun.sleep(20);
  expect(drained).toBe(false);
  release();
  await draining;
  expect(drained).toBe(true);
});
