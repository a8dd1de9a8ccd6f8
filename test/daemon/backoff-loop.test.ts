import { describe, expect, test } from "bun:test";
import { backoff, wakeableLoop } from "../../src/daemon/backoff-loop";
import { until } from "../support/wait";

const LONG = 600_000;

describe("backoff", () => {
  test("doubles from the floor up to the cap", () => {
    expect([0, 2_000, 4_000, 40_000, 60_000].map((d) => backoff(d, 2_000, 60_000))).toEqual([
      2_000, 4_000, 8_000, 60_000, 60_000,
    ]);
    // A longer interval than the previous delay wins (the coordinator asked for it).
    expect(backoff(1_000, 5_000, 60_000)).toBe(5_000);
  });
});

describe("wakeableLoop", () => {
  test("runs at once; wake() cuts the sleep short; each step gets the delay it slept", async () => {
    const seen: number[] = [];
    const loop = wakeableLoop(async (previous) => {
      seen.push(previous);
      return LONG;
    });
    try {
      await until("the first step", () => seen.length === 1);
      loop.wake();
      await until("the woken step", () => seen.length === 2);
      expect(seen).toEqual([0, LONG]);
    } finally {
      await loop.stop();
    }
    expect(seen).toHaveLength(2);
  });

  test("stop() during a long sleep ends the loop without another step", async () => {
    let steps = 0;
    const loop = wakeableLoop(async () => {
      steps++;
      return LONG;
    });
    await until("the first step", () => steps === 1);
    await loop.stop();
    loop.wake();
    await Bun.sleep(50);
    expect(steps).toBe(1);
  });

  test("a wake() while the step runs is not kept: the loop then sleeps its full delay", async () => {
    let steps = 0;
    let release = () => {};
    const loop = wakeableLoop(async () => {
      steps++;
      if (steps === 1) await new Promise<void>((r) => (release = r));
      return LONG;
    });
    try {
      await until("the first step running", () => steps === 1);
      loop.wake();
      release();
      await Bun.sleep(50);
      expect(steps).toBe(1);
      loop.wake();
      await until("the second step", () => steps === 2);
    } finally {
      await loop.stop();
    }
  });

  test("stop() while a step runs resolves only once that step has finished, and runs no other", async () => {
    let steps = 0;
    let finished = false;
    let release = () => {};
    const loop = wakeableLoop(async () => {
      steps++;
      await new Promise<void>((r) => (release = r));
      finished = true;
      return 0;
    });
    await until("the step running", () => steps === 1);
    let stopped = false;
    const stopping = loop.stop().then(() => {
      stopped = true;
    });
    await Bun.sleep(20);
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect({ finished, steps }).toEqual({ finished: true, steps: 1 });
  });
});
