/** The scan's collections are bounded by bytes read (garbage-bound.ts). */
import { expect, spyOn, test } from "bun:test";
import { COLLECT_EVERY_BYTES, GarbageBound } from "../../../src/db/anonymize/garbage-bound";

test("collects once each time the bytes read since the last collection reach the bound", () => {
  let collections = 0;
  const bound = new GarbageBound(100, () => collections++);
  for (const bytes of [40, 40]) bound.read(bytes);
  expect(collections).toBe(0);
  bound.read(20);
  expect(collections).toBe(1);
  // The count starts again after a collection; one large read is one collection.
  bound.read(99);
  expect(collections).toBe(1);
  bound.read(1000);
  expect(collections).toBe(2);
  bound.read(0);
  expect(collections).toBe(2);
});

test("by default a full, synchronous collection every COLLECT_EVERY_BYTES", () => {
  const gc = spyOn(Bun, "gc");
  try {
    const bound = new GarbageBound();
    bound.read(COLLECT_EVERY_BYTES - 1);
    expect(gc).not.toHaveBeenCalled();
    bound.read(1);
    expect(gc.mock.calls).toEqual([[true]]);
  } finally {
    gc.mockRestore();
  }
});
