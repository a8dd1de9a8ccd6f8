import { expect, test } from "bun:test";
import type { CoordinatorDeps } from "../../src/deps";
import { startScheduler } from "../../src/daemon/scheduler";

test("ticks every second in UTC; a failing tick is logged and the schedule keeps going; stop ends it", async () => {
  let ok = 0;
  let failing = 0;
  const deps = {} as CoordinatorDeps;
  const s = startScheduler(
    [
      { name: "ok", pattern: "* * * * * *", tick: (d) => void (d === deps && ok++) },
      {
        name: "boom",
        pattern: "* * * * * *",
        tick: () => {
          failing++;
          throw new Error("boom");
        },
      },
    ],
    deps,
  );
  for (let i = 0; i < 60 && (ok < 2 || failing < 2); i++) await Bun.sleep(100);
  s.stop();
  expect(ok).toBeGreaterThanOrEqual(2);
  expect(failing).toBeGreaterThanOrEqual(2);
  const after = ok;
  await Bun.sleep(1_200);
  expect(ok).toBe(after);
});

test("stop() resolves only once a running tick has ended", async () => {
  let started = false;
  let release = () => {};
  const s = startScheduler(
    [
      {
        name: "slow",
        pattern: "* * * * * *",
        tick: async () => {
          started = true;
          await new Promise<void>((r) => (release = r));
        },
      },
    ],
    {} as CoordinatorDeps,
  );
  for (let i = 0; i < 30 && !started; i++) await Bun.sleep(100);
  expect(started).toBe(true);
  let stopped = false;
  const stopping = s.stop().then(() => {
    stopped = true;
  });
  await Bun.sleep(50);
  expect(stopped).toBe(false);
  release();
  await stopping;
  expect(stopped).toBe(true);
});
