import { expect, test } from "bun:test";
import { IdleCollector } from "../../src/daemon/idle-gc";

/** A hand-driven clock and timer queue: `advance` runs what falls due, in order. */
function harness(quietMs = 5000, minGapMs = 30_000) {
  let now = 0;
  let timers: { at: number; fn: () => void; live: boolean }[] = [];
  const collections: number[] = [];
  const collector = new IdleCollector({
    quietMs,
    minGapMs,
    now: () => now,
    schedule: (fn, ms) => {
      const t = { at: now + ms, fn, live: true };
      timers.push(t);
      return () => {
        t.live = false;
      };
    },
    collect: () => collections.push(now),
  });
  const advance = (ms: number) => {
    const end = now + ms;
    for (;;) {
      const due = timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      now = due.at;
      due.fn();
    }
    now = end;
    timers = timers.filter((t) => t.live);
  };
  const armed = () => timers.filter((t) => t.live).length;
  return { collector, advance, collections, armed };
}

test("collects once, quietMs after the last request of a burst", () => {
  const h = harness();
  for (let i = 0; i < 10; i++) {
    h.collector.touch();
    h.advance(100);
  }
  // Last request at 900 ms: quiet from 5,900 ms on.
  h.advance(4_899);
  expect(h.collections).toEqual([]);
  h.advance(1);
  expect(h.collections).toEqual([5_900]);
  h.advance(600_000);
  expect(h.collections).toEqual([5_900]);
  expect(h.armed()).toBe(0);
});

test("a daemon that served nothing is never collected", () => {
  const h = harness();
  h.advance(3_600_000);
  expect(h.collections).toEqual([]);
  expect(h.armed()).toBe(0);
});

test("one timer at a time, however many requests arrive", () => {
  const h = harness();
  for (let i = 0; i < 1000; i++) h.collector.touch();
  expect(h.armed()).toBe(1);
});

test("after a collection the next waits minGapMs, even when the quiet comes sooner", () => {
  const h = harness();
  h.collector.touch();
  h.advance(6_000);
  expect(h.collections).toEqual([5_000]);
  // The next request at 7,000 ms: quiet at 12,000, but the gap allows 35,000 at the earliest.
  h.advance(1_000);
  h.collector.touch();
  h.advance(20_000);
  expect(h.collections).toEqual([5_000]);
  h.advance(7_999);
  expect(h.collections).toEqual([5_000]);
  h.advance(1);
  expect(h.collections).toEqual([5_000, 35_000]);
});

test("requests every 4 s (shorter than the quiet) hold the collection off; it comes once they stop", () => {
  const h = harness();
  for (let i = 0; i < 20; i++) {
    h.collector.touch();
    h.advance(4_000);
  }
  expect(h.collections).toEqual([]);
  // Last request at 76,000 ms.
  h.advance(1_000);
  expect(h.collections).toEqual([81_000]);
});

test("stop() cancels the pending collection", () => {
  const h = harness();
  h.collector.touch();
  h.collector.stop();
  h.advance(60_000);
  expect(h.collections).toEqual([]);
  expect(h.armed()).toBe(0);
});
