/** pidAlive: this process and pid 1 exist; a process that has exited (and been reaped) does not. */
import { expect, test } from "bun:test";
import { pidAlive } from "../../src/exec/pid";

test("live, other user's and exited processes", async () => {
  expect(pidAlive(process.pid)).toBe(true);
  expect(pidAlive(1)).toBe(true);
  const child = Bun.spawn(["true"]);
  await child.exited;
  expect(pidAlive(child.pid)).toBe(false);
});
