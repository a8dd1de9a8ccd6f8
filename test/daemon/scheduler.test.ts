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
